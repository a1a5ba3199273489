#!/bin/bash
# SPDX-License-Identifier: MIT
# CLI tests of the Pregel apps and graph generators: results identical at 1, 2 and 3
# ranks, checkpoint + SIGKILL + --resume equal to an uninterrupted run, and one clear
# line for each kind of bad input.
. "$(dirname "$0")/../system/lib.sh"
cd "$TMP" || exit 1
PY=/usr/bin/python3
DUMP="$LOOM_SOURCE_DIR/tests/pregel/dsdump.py"
dump () { "$PY" "$DUMP" "$1" >"$2" || fail "cannot read dataset $1"; }

# Open MPI's PMIx occasionally fails to start a job while many other jobs start and
# stop on the machine ("PMIX ERROR: ... gds_ds12_lock_pthread.c"); that is not what
# these tests are about, so such a start is retried once, and said so.
expect_ok () {
    local desc=$1
    shift
    run "$@"
    if [ "$status" -ne 0 ] && grep -q "PMIX ERROR" "$TMP/err"; then
        echo "NOTE: $desc: Open MPI PMIx start-up error; once more"
        run "$@"
    fi
    [ "$status" -eq 0 ] || fail "$desc: exit $status, stderr: $(head -c 400 "$TMP/err")"
}

# Generators: the same dataset (same partition checksums) at any number of ranks.
expect_ok "gen rmat -n 2" loom gen rmat -n 2 --scale 9 --edgefactor 8 --seed 5 --weighted \
    --partitions 4 --output g2
expect_ok "gen rmat -n 3" loom gen rmat -n 3 --scale 9 --edgefactor 8 --seed 5 --weighted \
    --partitions 4 --output g3
dump g2 g2.txt
dump g3 g3.txt
cmp -s g2.txt g3.txt || fail "rmat differs between 2 and 3 ranks"
[ "$(wc -l <g2.txt)" -eq 4096 ] || fail "rmat scale 9 ef 8 should have 4096 edges"
expect_ok "gen urand" loom gen urand -n 2 --scale 8 --output u
expect_error "gen rmat bad scale" "loom: gen: rmat: scale 0 is out of range" \
    loom gen rmat -n 1 --scale 0 --output bad
expect_error "gen rmat exists" "loom: gen: rmat: .*g2" loom gen rmat -n 1 --scale 5 --output g2

# Every app at 1, 2 and 3 ranks gives identical values.
for app in "pagerank --iterations 8" "cc" "sssp --source 12" "bfs --source 12"; do
    name=${app%% *}
    for n in 1 2 3; do
        # shellcheck disable=SC2086
        expect_ok "$name -n $n" loom run $app -n $n --input g2 --output "$name.$n" --quiet
        dump "$name.$n" "$name.$n.txt"
    done
    [ -s "$name.1.txt" ] || fail "$name wrote no values"
    cmp -s "$name.1.txt" "$name.2.txt" || fail "$name differs between 1 and 2 ranks"
    cmp -s "$name.1.txt" "$name.3.txt" || fail "$name differs between 1 and 3 ranks"
done
expect_ok "pagerank range partitioning" loom run pagerank -n 2 --iterations 8 --input g2 \
    --partition range --output pr.range --quiet
dump pr.range pr.range.txt
cmp -s pr.range.txt pagerank.1.txt || fail "pagerank differs with range partitioning"
expect_ok "pagerank --top" loom run pagerank -n 2 --iterations 8 --input g2 --top 3
expect_out "pagerank --top prints 3 ranked vertices" "^   3 +[0-9]+ +0\.[0-9]+"

# Checkpoint, SIGKILL after superstep 7, resume: the same values as no crash.
LOOM_PREGEL_CRASH_AFTER=7 run loom run pagerank -n 2 --iterations 12 --input g2 \
    --output crashed --checkpoint ck --checkpoint-every 3
[ "$status" -ne 0 ] || fail "the crashing run exited 0"
[ -e crashed ] && fail "a crashed run left an output dataset"
[ -f ck/manifest.json ] || fail "no checkpoint was committed before the crash"
expect_ok "resume" loom run pagerank -n 2 --iterations 12 --input g2 --output crashed \
    --checkpoint ck --checkpoint-every 3 --resume
expect_out "resume says so" "resumed"
expect_ok "uninterrupted" loom run pagerank -n 2 --iterations 12 --input g2 --output whole \
    --quiet
dump crashed crashed.txt
dump whole whole.txt
cmp -s crashed.txt whole.txt || fail "resumed pagerank differs from the uninterrupted run"
expect_error "resume with other ranks" "checkpoint has 2 partitions but the job has 3" \
    loom run pagerank -n 3 --iterations 12 --input g2 --checkpoint ck --resume

# The seed's pipeline: text edges -> MapReduce graph-build -> Pregel PageRank -> top-k,
# equal to the same chain run as separate jobs (loom-graph-build, then loom-pagerank).
printf '# a small graph\n1 2\n2 3\n3 1\n3 4 0.5\n4 5\n5 4\n\n6 4 # dup next\n6 4\n' \
    >edges.txt
expect_ok "pipeline" loom run pipeline -n 2 --edges edges.txt --top 3 --graph gb \
    --output pipe.ranks
expect_out "pipeline top vertex" "^   1 +4 +0\.38"
expect_out "pipeline reports both steps" "graph-build \(MapReduce\): 7 edges"
expect_ok "pagerank on the pipeline's graph" loom run pagerank -n 3 --input gb \
    --output pr.gb --iterations 20 --quiet
dump pipe.ranks pipe.txt
dump pr.gb prgb.txt
[ "$(wc -l <pipe.txt)" -eq 6 ] || fail "pipeline ranked $(wc -l <pipe.txt) vertices, not 6"
cmp -s pipe.txt prgb.txt || fail "pipeline ranks differ from pagerank on its graph"
if command -v loom-graph-build >/dev/null; then
    expect_ok "graph-build" loom run graph-build -n 2 --input edges.txt --output gb2 -q
    expect_ok "pagerank on graph-build's graph" loom run pagerank -n 2 --input gb2 \
        --output pr.gb2 --iterations 20 --quiet
    dump pr.gb2 prgb2.txt
    cmp -s pipe.txt prgb2.txt || fail "pipeline differs from graph-build + pagerank"
fi
printf '1 2\nx y\n' >bad.txt
expect_error "pipeline bad line" "loom: pipeline: bad.txt: bad edge line 'x y'" \
    loom run pipeline -n 2 --edges bad.txt

# Bad input: one line each.
expect_error "wrong schema" "loom: pagerank: pagerank.1: not an edge dataset" \
    loom run pagerank -n 2 --input pagerank.1
printf '1 2 0.5\n2 3 -1.5\n3 1 2\n' >neg.txt
test-pregel-mkedges neg.txt neg || fail "cannot make neg"
expect_error "negative weight" "loom: sssp: neg has a negative or NaN edge weight" \
    loom run sssp -n 2 --input neg --source 1
expect_error "missing source" "loom: bfs: source vertex 999 is not in the graph" \
    loom run bfs -n 2 --input g2 --source 999
: >empty.txt
test-pregel-mkedges empty.txt empty || fail "cannot make empty"
expect_error "no vertices" "loom: cc: the graph has no vertices" loom run cc -n 2 --input empty
expect_error "no input" "loom: pagerank: no input" loom run pagerank -n 1
expect_error "missing dataset" "loom: pagerank: nope" loom run pagerank -n 1 --input nope
finish
