#!/bin/bash
# SPDX-License-Identifier: MIT
# loom trace merge/export/summary/info end to end: a job traced through LOOM_TRACE, a
# killed rank that still leaves its trace, the Perfetto export validated, and bad
# input (truncated, other version, garbage, missing) refused in one line.
. "$(dirname "$0")/../system/lib.sh"
job="$LOOM_BUILD_DIR/tests/trace-job"
validate="$LOOM_BUILD_DIR/tests/validate-perfetto"

# A 3-rank job traced through the environment; rank 2 has 3x the data. A loaded
# machine can hide the straggler in one run (timing): up to 3 runs.
for attempt in 1 2 3; do
    rm -f "$TMP"/ok.rank*
    LOOM_TRACE="$TMP/ok" expect_ok "traced job" mpirun -np 3 --oversubscribe "$job" --records 300000
    loom trace summary "$TMP/ok" | grep -q '^  test\.gen: rank 2 took' && break
done
for r in 0 1 2; do
    [ -s "$TMP/ok.rank$r" ] || fail "LOOM_TRACE: no file for rank $r"
done
expect_ok "trace info" loom trace info "$TMP/ok"
expect_out "three ranks" '^trace id [0-9a-f]{16}, 3 processes$'
[ "$(grep -c ' closed (rank' "$TMP/out")" -eq 3 ] || fail "info: all 3 ranks should be closed"

expect_ok "summary" loom trace summary "$TMP/ok"
expect_out "summary phases" '^  test\.gen +3 +3 '
expect_out "summary straggler" "^  test\.gen: rank 2 took .*3\.0x records \(900000 vs 300000\)"
expect_out "bytes moved" 'between ranks \(traced transfers\): 384\.0 KiB in 6 transfers'

expect_ok "merge" loom trace merge "$TMP/ok"
expect_out "merge output" "^$TMP/ok\.trace: 3 processes$"
expect_ok "merge -o" loom trace merge -o "$TMP/m.trace" "$TMP/ok.rank0" "$TMP/ok.rank1" "$TMP/ok.rank2"
cmp -s "$TMP/ok.trace" "$TMP/m.trace" || fail "merge of a prefix and of its files differ"
expect_ok "summary of merged" loom trace summary "$TMP/ok.trace"
expect_out "merged straggler" "^  test\.gen: rank 2 took"

expect_ok "export --perfetto" loom trace export --perfetto -o "$TMP/ok.json" "$TMP/ok.trace"
expect_ok "perfetto JSON valid" "$validate" "$TMP/ok.json" 3
expect_out "arrows" 'flows 6/6 matched 6'
expect_ok "export to stdout" loom trace export "$TMP/ok"
cmp -s "$TMP/out" "$TMP/ok.json" || fail "export to stdout differs from -o"

# Size limits: downsampled to fit, or split into parts that each fit and validate.
# (This trace is small, so the limits are fractions of its full size.)
full=$(stat -c %s "$TMP/ok.json")
small=$((full * 4 / 5))
expect_ok "export downsampled" loom trace export --max-size $small -o "$TMP/small.json" "$TMP/ok"
grep -q 'downsampled' "$TMP/err" || fail "downsampling not reported"
[ "$(stat -c %s "$TMP/small.json")" -le $small ] || fail "downsampled file over $small bytes"
expect_ok "small JSON valid" "$validate" "$TMP/small.json" 3
part=$((full * 2 / 3))
expect_ok "export split" loom trace export --max-size $part --split -o "$TMP/split.json" "$TMP/ok"
nparts=$(grep -c 'split\.part[0-9]*\.json$' "$TMP/out")
[ "$nparts" -ge 2 ] || fail "split: expected several parts, got $nparts"
for p in "$TMP"/split.part*.json; do
    [ "$(stat -c %s "$p")" -le $part ] || fail "split: $p over $part bytes"
    "$validate" "$p" 3 >/dev/null || fail "split: $p invalid"
done

# A killed rank (SIGKILL: no handler runs) still leaves its trace; the others are
# terminated by mpirun and say so.
LOOM_TRACE="$TMP/kill" run mpirun -np 3 --oversubscribe "$job" --records 1000 --die 1
[ "$status" -ne 0 ] || fail "job with a killed rank exited 0"
expect_ok "info of killed job" loom trace info "$TMP/kill"
expect_out "killed rank listed" '^rank .* killed or running \(rank 1\)'
expect_ok "summary of killed job" loom trace summary "$TMP/kill"
expect_out "killed rank named" '^Died: rank 1 .*never closed its trace'
expect_ok "export of killed job" loom trace export -o "$TMP/kill.json" "$TMP/kill"
expect_ok "killed JSON valid" "$validate" "$TMP/kill.json" 3
grep -q '"name":"exchange".*"unfinished":true' "$TMP/kill.json" \
    || fail "the killed rank's open exchange span is missing"

# Bad input: one line naming the file and what is wrong.
head -c 5000 "$TMP/ok.rank0" >"$TMP/trunc.rank0"
expect_error "truncated" "^loom: trace summary: $TMP/trunc\.rank0: truncated" \
    loom trace summary "$TMP/trunc"
cp "$TMP/ok.rank0" "$TMP/v2.rank0"
printf '\002' | dd of="$TMP/v2.rank0" bs=1 seek=8 conv=notrunc status=none
expect_error "other version" "^loom: trace info: $TMP/v2\.rank0: trace format version 2; this loom reads version 1$" \
    loom trace info "$TMP/v2.rank0"
head -c 10000 /dev/urandom >"$TMP/garbage"
expect_error "garbage" "^loom: trace export: $TMP/garbage: not a Loom trace" \
    loom trace export "$TMP/garbage"
expect_error "no trace" "^loom: trace summary: $TMP/nope: no such trace" \
    loom trace summary "$TMP/nope"
expect_error "no argument" "^loom: trace summary: which trace" loom trace summary
expect_error "unknown subcommand" "^loom: trace: no subcommand 'frobnicate'" \
    loom trace frobnicate x
expect_error "bad --max-size" "^loom: trace export: --max-size must be a number" \
    loom trace export --max-size lots "$TMP/ok"
expect_error "split to stdout" "^loom: trace export: --split needs -o" \
    loom trace export --split "$TMP/ok"
expect_error "mixed jobs" "files of two jobs" \
    loom trace merge -o "$TMP/x.trace" "$TMP/ok.rank0" "$TMP/kill.rank1"
[ ! -e "$TMP/x.trace" ] || fail "a failed merge left its output"

# Headless Chromium smoke test, only where Debian's chromium is already installed.
if command -v chromium >/dev/null 2>&1; then
    expect_ok "chromium opens the JSON" timeout 60 chromium --headless --no-sandbox \
        --disable-gpu --dump-dom "file://$TMP/ok.json"
    expect_out "chromium saw the events" 'traceEvents'
fi

finish
