#!/bin/bash
# SPDX-License-Identifier: MIT
# One trace across the stack: a 4-rank wordcount run with LOOM_TRACE holds every
# MapReduce phase (and the libcomm and datasets phases under them) of every rank, plus
# the launcher, under one trace id; its Perfetto export is valid. The launcher merges
# the files into PREFIX.trace at the end (with --trace too), also when a rank was
# killed.
. "$(dirname "$0")/../system/lib.sh"
validate="$LOOM_BUILD_DIR/tests/validate-perfetto"

for i in $(seq 1 4000); do
    echo "the quick brown fox $i jumps over the lazy dog $((i % 17)) again and again"
done >"$TMP/in.txt"
LOOM_TRACE="$TMP/wc" expect_ok "traced wordcount" \
    loom run wordcount -n 4 "$TMP/in.txt" --output "$TMP/counts" -q
for r in 0 1 2 3; do
    [ -s "$TMP/wc.rank$r" ] || fail "no trace file for rank $r"
done

expect_ok "info" loom trace info "$TMP/wc"
[ "$(grep -c '^rank .* closed (rank' "$TMP/out")" -eq 4 ] || fail "info: 4 closed ranks expected"

# The launcher merged every rank's file and its own into PREFIX.trace at the end.
[ -s "$TMP/wc.trace" ] || fail "loom run left no merged trace $TMP/wc.trace"
expect_ok "merged info" loom trace info "$TMP/wc.trace"
expect_out "merged: 4 ranks and the launcher" '^trace id [0-9a-f]{16}, 5 processes$'
[ "$(grep -c '^rank .* closed (rank [0-3])' "$TMP/out")" -eq 4 ] || fail "merged: 4 closed ranks expected: $(cat "$TMP/out")"
expect_ok "merged summary" loom trace summary "$TMP/wc.trace"
for phase in mapreduce.map mapreduce.reduce comm.shuffle.exchange; do
    expect_out "$phase of every rank in the merged trace" "^  ${phase//./\\.} +4 "
done

# --trace does the same; a job whose rank 2 was killed still gets its merged trace.
expect_ok "run --trace" loom run wordcount -n 2 --trace "$TMP/wc2" "$TMP/in.txt" --output "$TMP/counts2" -q
expect_ok "--trace merged" loom trace info "$TMP/wc2.trace"
expect_out "--trace: 2 ranks and the launcher" '^trace id [0-9a-f]{16}, 3 processes$'
run env LOOM_TRACE="$TMP/kill" loom launch -n 4 --oversubscribe \
    "$LOOM_BUILD_DIR/tests/trace-job" --records 20000 --die 2
[ "$status" -eq 137 ] || fail "killed rank: exit $status, want 137: $(head -c 300 "$TMP/err")"
[ -s "$TMP/kill.trace" ] || fail "a job with a killed rank left no merged trace"
expect_ok "killed job's merged trace" loom trace info "$TMP/kill.trace"
[ "$(grep -c '^rank ' "$TMP/out")" -eq 4 ] || fail "killed job: 4 ranks expected: $(cat "$TMP/out")"
expect_out "rank 2 died" '^rank .* killed or running \(rank 2\)'
expect_ok "killed job's summary" loom trace summary "$TMP/kill.trace"
expect_out "rank 2 listed as dead" 'rank 2'

expect_ok "summary" loom trace summary "$TMP/wc"
# The 'ranks' column counts the ranks that ran the phase: all 4, for every phase.
for phase in mapreduce.map mapreduce.shuffle mapreduce.reduce mapreduce.write \
    comm.shuffle.exchange datasets.partition.write datasets.commit; do
    expect_out "$phase on every rank" "^  ${phase//./\\.} +4 "
done
expect_out "one job" '^Job trace [0-9a-f]{16}: 4 ranks'

expect_ok "export" loom trace export -o "$TMP/wc.json" "$TMP/wc"
expect_ok "export valid" "$validate" "$TMP/wc.json"
grep -q '"name":"map","cat":"mapreduce"' "$TMP/wc.json" || fail "no map slices in the export"
finish
