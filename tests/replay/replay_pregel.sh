#!/bin/bash
# SPDX-License-Identifier: MIT
# Replay of a Pregel superstep (docs/replay.md): a 4-rank connected-components job
# whose compute crashes at one vertex in superstep 1 leaves a capture of that rank's
# superstep; `loom replay` reruns it in one process, without the graph dataset,
# reproduces the crash and names the vertex. A --capture run that does not crash
# replays every rank's superstep to identical values and messages.
. "$(dirname "$0")/../system/lib.sh"
export PMIX_MCA_gds=hash
APP=$LOOM_BUILD_DIR/tests/loom-test-crashcc
export LOOM_CAPTURE_DIR=$TMP/cap

expect_ok "gen" loom gen rmat -n 2 --scale 9 --edgefactor 4 --seed 3 --output "$TMP/g"
expect_ok "export" loom ds export --csv "$TMP/g"
# A vertex with an edge: it is active in superstep 1 (cc is symmetric, so it gets
# its neighbours' labels).
v=$(grep -E '^[0-9]+,[0-9]+' "$TMP/out" | sed -n 7p | cut -d, -f2)
[ -n "$v" ] || fail "no vertex picked from the export: $(head -3 "$TMP/out")"

run mpirun -np 4 --oversubscribe "$APP" --input "$TMP/g" --quiet --crash-vertex "$v" --crash-superstep 1
[ "$status" -ne 0 ] || fail "the crashing job exited 0"
grep -qE "loom: capture: SIGSEGV in user code of task compute-ss1-r[0-3] at vertex $v; captured in" "$TMP/err" \
    || fail "no capture line: $(grep loom: "$TMP/err" | head -c 400)"
job=$(ls "$LOOM_CAPTURE_DIR")
task=$(ls "$LOOM_CAPTURE_DIR/$job")
echo "$task" | grep -qxE 'compute-ss1-r[0-3]' || fail "captured tasks: '$task'"

expect_ok "replay" loom replay "$job" --task "$task"
expect_out "replay names the vertex" "replay of $task reproduced the crash: SIGSEGV in user code at vertex $v\$"

# Elsewhere, without the graph dataset: the partition is in the capture.
mkdir -p "$TMP/laptop" && cp -r "$LOOM_CAPTURE_DIR/$job" "$TMP/laptop/"
mv "$TMP/g" "$TMP/g.away"
expect_ok "replay from a copy" loom replay "$TMP/laptop/$job" --task "$task"
expect_out "copy reproduces" "reproduced the crash: SIGSEGV in user code at vertex $v\$"
if command -v gdb >/dev/null; then
    expect_ok "replay under gdb" loom replay "$TMP/laptop/$job" --task "$task" --gdb </dev/null
    grep -q 'crashing_compute' "$TMP/out" "$TMP/err" || fail "no backtrace through crashing_compute"
fi
mv "$TMP/g.away" "$TMP/g"

# --capture of superstep 1 on every rank, no crash: replays are identical.
rm -rf "$LOOM_CAPTURE_DIR"
expect_ok "capture run" mpirun -np 4 --oversubscribe "$APP" --input "$TMP/g" --quiet --capture='compute-ss1-*'
job=$(ls "$LOOM_CAPTURE_DIR")
[ "$(ls "$LOOM_CAPTURE_DIR/$job" | tr '\n' ' ')" = "compute-ss1-r0 compute-ss1-r1 compute-ss1-r2 compute-ss1-r3 " ] \
    || fail "captured: $(ls "$LOOM_CAPTURE_DIR/$job")"
for r in 0 1 2 3; do
    expect_ok "replay r$r" loom replay "$job" --task "compute-ss1-r$r"
    expect_out "r$r identical" "replay of compute-ss1-r$r: superstep 1, [0-9]+ vertices computed from local index 0, [0-9]+ records out, xxh64 [0-9a-f]{16}: identical to the captured output"
done
# A changed program is refused, not silently replayed.
bad=$TMP/bad && mkdir -p "$bad" && cp -r "$LOOM_CAPTURE_DIR/$job" "$bad/"
truncate -s -8 "$bad/$job/compute-ss1-r2/values.bin"
expect_error "corrupt values" "loom: replay: compute-ss1-r2: capture file '.*values.bin' is corrupt" loom replay "$bad/$job" --task compute-ss1-r2

finish
