#!/bin/bash
# SPDX-License-Identifier: MIT
# One trace across the stack: a 4-rank wordcount run with LOOM_TRACE holds every
# MapReduce phase (and the libcomm and datasets phases under them) of every rank, plus
# the launcher, under one trace id; its Perfetto export is valid.
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
