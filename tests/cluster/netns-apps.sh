#!/bin/bash
# SPDX-License-Identifier: MIT
# Loom across three emulated hosts over TCP, 6 ranks (2 per host): the libcomm
# shuffle, broadcast, combine and join tests; MapReduce wordcount and Pregel PageRank
# with results identical to the same run on one host; `loom launch --host h1:2,h2:2,h3:2`
# with the bindings it planned. The bytes through the bridge show the data crossed.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loom-hello loom-wordcount loom-pagerank
PY=/usr/bin/python3
DUMP=$LOOM_SOURCE_DIR/tests/pregel/dsdump.py
tests=$LOOM_BUILD_DIR/tests
hosts=h1:2,h2:2,h3:2
cd "$TMP" || exit 1

netns_start 3
step "hosts up: $LOOM_NETNS"
crossed () { echo $(($(bridge_bytes h2) + $(bridge_bytes h3))); }

# libcomm's own MPI tests, unchanged, at 6 ranks on 3 hosts: they check their results
# on every rank and exit non-zero on any failed check.
for t in test_shuffle test_bcast test_combine test_join; do
    if [ ! -x "$tests/$t" ]; then
        fail "$t is not built"
        continue
    fi
    expect_ok_mpi "libcomm $t at 6 ranks on 3 hosts" mpirun_hosts -np 6 --host $hosts "$tests/$t"
    expect_out "$t passed at np 6" "np=6: ok \\(0 failed checks\\)"
    step "libcomm $t done"
done

# MapReduce wordcount: the same bytes as on one host.
mkdir -p corpus/sub
awk 'BEGIN { srand(11); for (l = 0; l < 6000; l++) { s = ""
        for (w = 0; w < 1 + l % 13; w++) s = s " w" int(rand() * rand() * 900)
        print s } }' >corpus/a.txt
awk 'BEGIN { for (l = 0; l < 3000; l++) print "common words " l % 97 " caf\303\251" }' >corpus/sub/b.txt
printf 'no final newline' >corpus/sub/c.txt
expect_ok "wordcount on one host (-n 6)" loom run wordcount -n 6 --input corpus --output wc.local --text -q
before=$(crossed)
expect_ok_mpi "wordcount on 3 hosts" \
    mpirun_hosts -np 6 --host $hosts loom-wordcount --input "$TMP/corpus" --output "$TMP/wc.multi" --text -q
checks=$((checks + 1))
cmp -s wc.local wc.multi || fail "wordcount across hosts differs from one host"
[ "$(awk -F'\t' '$1 == "common" {print $2}' wc.multi)" = 3000 ] ||
    fail "wordcount across hosts: 'common' is not counted 3000 times"
[ $(($(crossed) - before)) -gt 20000 ] || fail "wordcount: only $(($(crossed) - before)) bytes crossed"
step "wordcount identical ($(wc -l <wc.multi) words; $(($(crossed) - before)) bytes crossed)"

# Pregel PageRank on an R-MAT graph: the same values as on one host.
expect_ok "gen rmat" loom gen rmat -n 2 --scale 10 --edgefactor 8 --seed 7 --output graph
expect_ok "pagerank on one host (-n 6)" \
    loom run pagerank -n 6 --iterations 10 --input graph --output pr.local --quiet
before=$(crossed)
expect_ok_mpi "pagerank on 3 hosts" mpirun_hosts -np 6 --host $hosts \
    loom-pagerank --iterations 10 --input "$TMP/graph" --output "$TMP/pr.multi" --quiet
"$PY" "$DUMP" pr.local >pr.local.txt || fail "cannot read pr.local"
"$PY" "$DUMP" pr.multi >pr.multi.txt || fail "cannot read pr.multi"
checks=$((checks + 1))
[ -s pr.local.txt ] && cmp -s pr.local.txt pr.multi.txt ||
    fail "pagerank across hosts differs from one host"
expect_ok "pagerank output verifies" loom ds verify pr.multi
step "pagerank identical ($(wc -l <pr.multi.txt) vertices; $(($(crossed) - before)) bytes crossed)"

# loom launch places the ranks over the hosts and hands the plan to mpirun; each rank
# reports where it runs and its binding, which must match the plan.
expect_ok_mpi "loom launch --host $hosts" on h1 loom launch --host $hosts \
    --rsh-agent "$CLUSTER_BIN/nsrsh" --report-bindings loom-hello
expect_out "launch: hello correct" '^hello: 6 ranks, allreduce and ring exchange correct$'
sed -n 's/^rank \([0-9]*\) on \(h[0-9]*\): PUs \([0-9,-]*\) .*/\1 \2 \3/p' "$TMP/err" | sort >plan
sed -n 's/^rank \([0-9]*\) of 6 on \(h[0-9]*\), bound to PUs \([0-9,-]*\)$/\1 \2 \3/p' "$TMP/out" |
    sort >got
checks=$((checks + 1))
[ "$(wc -l <plan)" -eq 6 ] && cmp -s plan got ||
    fail "launch: bindings differ from the plan: plan $(tr '\n' ';' <plan) got $(tr '\n' ';' <got)"
[ "$(cut -d' ' -f2 got | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "2 2 2 " ] ||
    fail "launch: not 2 ranks on each host: $(tr '\n' ';' <got)"
step "loom launch across hosts matches its plan"

netns_stop
step "hosts down (known Open MPI connect races retried: $races)"
finish
