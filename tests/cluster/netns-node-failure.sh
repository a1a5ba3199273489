#!/bin/bash
# SPDX-License-Identifier: MIT
# Host failure under mpirun: while PageRank runs at 6 ranks on h1..h3 (checkpointing),
# every process of h3 is killed at once. mpirun must fail within a bounded time and
# leave nothing running on h1 and h2 (netns-down checks every host); the rerun on the
# two hosts left, same 6 ranks, resumes from the committed checkpoint and equals an
# uninterrupted run.
# Then the same for a dataset: wordcount at 6 ranks on h1,h2,h4 is hit by the loss of
# h4 while it writes its output partitions. The rerun on h1,h2 reuses, through the
# dataset's lineage, every partition the failed run committed (the same files, and
# partitions_reused in its statistics) and equals a clean run.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loom-pagerank loom-gen loom-wordcount
PY=/usr/bin/python3
DUMP=$LOOM_SOURCE_DIR/tests/pregel/dsdump.py
DUMP_MR=$LOOM_SOURCE_DIR/tests/mapreduce/dsdump.py
cd "$TMP" || exit 1

netns_start 4
step "hosts up: $LOOM_NETNS"
expect_ok "gen rmat" loom gen rmat -n 2 --scale 10 --edgefactor 8 --seed 4 --output "$TMP/graph"
opts="--input $TMP/graph --iterations 80 --checkpoint $TMP/ck --checkpoint-every 4"

mpirun_hosts -np 6 --host h1:2,h2:2,h3:2 loom-pagerank $opts --quiet --output "$TMP/ranks" \
    >"$TMP/job.out" 2>&1 &
job=$!
for _ in $(seq 1 300); do
    [ -f "$TMP/ck/manifest.json" ] && break
    cl_alive $job || break
    sleep 0.1
done
checks=$((checks + 1))
[ -f "$TMP/ck/manifest.json" ] || fail "no checkpoint committed: $(tail -n 5 "$TMP/job.out")"
[ -n "$(netns_pids h3)" ] || fail "nothing runs on h3"
netns_kill_host h3
t_kill=$EPOCHREALTIME
step "h3 killed"
wait $job
rc=$?
t_end=$(awk -v a="$t_kill" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
checks=$((checks + 1))
[ $rc -ne 0 ] || fail "mpirun exited 0 after losing h3"
awk -v t="$t_end" 'BEGIN{exit !(t < 30)}' || fail "mpirun took ${t_end} s to fail"
[ -f "$TMP/ranks/manifest.json" ] && fail "the failed job committed its output"
step "mpirun failed (exit $rc) $t_end s after the failure"
sleep 0.5
for h in h1 h2 h3; do
    checks=$((checks + 1))
    left=$(netns_pids $h | tr '\n' ' ')
    [ -z "$left" ] || fail "left running on $h after the failed job: $left"
done

expect_ok_mpi "rerun on h1,h2 with --resume" mpirun_hosts -np 6 --host h1:3,h2:3 \
    loom-pagerank $opts --resume --output "$TMP/ranks"
expect_out "the rerun resumed from the checkpoint" "resumed"
expect_ok_mpi "uninterrupted run" mpirun_hosts -np 6 --host h1:3,h2:3 \
    loom-pagerank --input "$TMP/graph" --iterations 80 --quiet --output "$TMP/whole"
"$PY" "$DUMP" "$TMP/ranks" >ranks.txt || fail "cannot read the rerun's ranks"
"$PY" "$DUMP" "$TMP/whole" >whole.txt || fail "cannot read the uninterrupted ranks"
checks=$((checks + 1))
[ -s ranks.txt ] && cmp -s ranks.txt whole.txt ||
    fail "the resumed run's ranks differ from an uninterrupted run"
step "rerun resumed and equals an uninterrupted run"

# A dataset job: the loss of h4 while the output partitions are being written. Rank 0
# (on h1) owns partitions 0-39 of 240 and writes them in order; its first file
# appearing means the job is past the shuffle and committing, and the manifest is
# written only after every rank wrote all 40 of its partitions.
"$PY" -c 'import random; random.seed(11); w=["w%d" % i for i in range(20000)]
print("\n".join(" ".join(random.choice(w) for _ in range(10)) for _ in range(60000)))' \
    >"$TMP/words.txt"
wc_opts="--input $TMP/words.txt --output $TMP/counts --partitions 240"
# LOOM_MR_PART_DELAY_MS (a test hook) makes each commit take 50 ms longer, so the
# loss of h4 surely lands while partitions are still being written.
mpirun_hosts -np 6 --host h1:2,h2:2,h4:2 -x LOOM_MR_PART_DELAY_MS=50 \
    loom-wordcount $wc_opts --quiet >"$TMP/wc.out" 2>&1 &
job=$!
for _ in $(seq 1 3000); do
    compgen -G "$TMP/counts/part-00000.g*.h5" >/dev/null && break
    cl_alive $job || break
    sleep 0.01
done
checks=$((checks + 1))
compgen -G "$TMP/counts/part-00000.g*.h5" >/dev/null ||
    fail "wordcount committed no partition: $(tail -n 5 "$TMP/wc.out")"
netns_kill_host h4
step "h4 killed while wordcount wrote its partitions"
wait $job
rc=$?
checks=$((checks + 1))
[ $rc -ne 0 ] || fail "mpirun exited 0 after losing h4"
[ -f "$TMP/counts/manifest.json" ] && fail "the failed wordcount committed its dataset"
sleep 0.5
for h in h1 h2 h4; do
    checks=$((checks + 1))
    left=$(netns_pids $h | tr '\n' ' ')
    [ -z "$left" ] || fail "left running on $h after the failed wordcount: $left"
done
# Committed partition files of the failed run, with their inodes: a reused partition
# is the same file, a rewritten one a new file renamed into place.
(cd "$TMP/counts" && stat -c '%n %i' part-*.h5) >committed.txt
step "mpirun failed (exit $rc); $(wc -l <committed.txt) of 240 partitions committed"

expect_ok_mpi "wordcount rerun on h1,h2" mpirun_hosts -np 6 --host h1:3,h2:3 \
    loom-wordcount $wc_opts --quiet --stats
reused=$(grep -o '"partitions_reused":[0-9]*' "$TMP/out" | cut -d: -f2)
checks=$((checks + 1))
[ "${reused:-0}" -ge 1 ] || fail "the rerun reused ${reused:-0} partitions on rank 0"
(cd "$TMP/counts" && stat -c '%n %i' part-*.h5) >final.txt
checks=$((checks + 1))
missing=$(comm -23 <(sort committed.txt) <(sort final.txt) | head -3)
[ -z "$missing" ] || fail "committed partitions were rewritten, not reused: $missing"
expect_ok_mpi "clean wordcount" mpirun_hosts -np 6 --host h1:3,h2:3 \
    loom-wordcount --input "$TMP/words.txt" --output "$TMP/clean" --partitions 240 --quiet
"$PY" "$DUMP_MR" --counts "$TMP/counts" >wc-rerun.txt || fail "cannot read the rerun's counts"
"$PY" "$DUMP_MR" --counts "$TMP/clean" >wc-clean.txt || fail "cannot read the clean counts"
checks=$((checks + 1))
[ -s wc-rerun.txt ] && cmp -s wc-rerun.txt wc-clean.txt ||
    fail "the rerun's dataset differs from a clean run: $(diff wc-clean.txt wc-rerun.txt | head -3)"
"$PY" "$DUMP_MR" "$TMP/counts" | LC_ALL=C sort >wc-rows.txt
checks=$((checks + 1))
"$PY" "$LOOM_SOURCE_DIR/tests/mapreduce/refcount.py" "$TMP/words.txt" |
    cmp -s - wc-rows.txt || fail "the rerun's counts are not the reference counts"
step "rerun reused rank 0's $reused committed partitions (all $(wc -l <committed.txt) kept) and equals a clean run"

netns_stop
step "hosts down"
finish
