#!/bin/bash
# SPDX-License-Identifier: MIT
# Host failure under mpirun: while PageRank runs at 6 ranks on h1..h3 (checkpointing),
# every process of h3 is killed at once. mpirun must fail within a bounded time and
# leave nothing running on h1 and h2 (netns-down checks every host); the rerun on the
# two hosts left, same 6 ranks, resumes from the committed checkpoint and equals an
# uninterrupted run.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loom-pagerank loom-gen
PY=/usr/bin/python3
DUMP=$LOOM_SOURCE_DIR/tests/pregel/dsdump.py
cd "$TMP" || exit 1

netns_start 3
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

netns_stop
step "hosts down"
finish
