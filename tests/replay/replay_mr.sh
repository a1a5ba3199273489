#!/bin/bash
# SPDX-License-Identifier: MIT
# Replay of MapReduce tasks (docs/replay.md): a 4-rank job whose reduce (then map)
# crashes on one word leaves a capture; `loom replay` reruns just that task in one
# process, reproduces the crash and names the key, also from a copy of the capture
# and of the input elsewhere, and under gdb. A --capture run that does not crash
# replays to identical output. Bad captures give one clear line.
. "$(dirname "$0")/../system/lib.sh"
export PMIX_MCA_gds=hash
APP=$LOOM_BUILD_DIR/tests/loom-test-crashwc
export LOOM_CAPTURE_DIR=$TMP/cap

# A corpus over several files; "boom" occurs in one line of one file only.
in=$TMP/corpus
mkdir -p "$in"
for i in 1 2 3 4 5 6; do
    for j in $(seq 1 200); do echo "alpha beta w$((j % 37)) file$i gamma$((j % 5))"; done >"$in/f$i.txt"
done
echo "the line with boom in it" >>"$in/f4.txt"

jobs_in () { ls "$LOOM_CAPTURE_DIR" 2>/dev/null; }

# 1. Reduce crashes on "boom" in a 4-rank job: the job fails, the task is captured.
run mpirun -np 4 --oversubscribe "$APP" --input "$in" --output "$TMP/o1.txt" --crash-on-key boom
[ "$status" -ne 0 ] || fail "the crashing job exited 0"
grep -qE 'loom: capture: SIGSEGV in user code of task s0-reduce-p[0-9]+ while processing key "boom"; captured in' "$TMP/err" \
    || fail "no capture line on stderr: $(grep loom: "$TMP/err" | head -c 400)"
job=$(jobs_in)
[ "$(echo "$job" | wc -w)" -eq 1 ] || fail "expected one captured job, got '$job'"
task=$(ls "$LOOM_CAPTURE_DIR/$job")
echo "$task" | grep -qxE 's0-reduce-p[0-9]+' || fail "captured tasks: '$task'"
[ -s "$LOOM_CAPTURE_DIR/$job/$task/input.rec" ] || fail "no input.rec in the reduce capture"

expect_ok "list" loom replay --list "$job"
expect_out "list shows the crash" "$task +reduce +crashed +SIGSEGV in user code while processing key \"boom\""

# 2. The replay reproduces the crash in one process and names the key.
expect_ok "replay reduce" loom replay "$job" --task "$task"
expect_out "replay names the key" "replay of $task reproduced the crash: SIGSEGV in user code while processing key \"boom\""
grep -q "loom: replay: $task: SIGSEGV in user code while processing key \"boom\"" "$TMP/err" \
    || fail "the replayed process did not name the key: $(head -c 300 "$TMP/err")"

# 3. From a copy elsewhere (the reduce input is in the capture itself).
mkdir -p "$TMP/laptop"
cp -r "$LOOM_CAPTURE_DIR/$job" "$TMP/laptop/"
expect_ok "replay from a copy" env LOOM_CAPTURE_DIR=/nonexistent loom replay "$TMP/laptop/$job" --task "$task"
expect_out "copy reproduces" "reproduced the crash: SIGSEGV in user code while processing key \"boom\""

# 4. Under gdb (batch: stdin is not a terminal): a backtrace through reduce_sum.
if command -v gdb >/dev/null; then
    expect_ok "replay under gdb" loom replay "$job" --task "$task" --gdb </dev/null
    grep -q 'reduce_sum' "$TMP/out" "$TMP/err" || fail "gdb printed no backtrace through reduce_sum: $(head -c 600 "$TMP/out")"
    expect_out "gdb run reproduces" "reproduced the crash"
fi

# 5. Map crashes on the line with "boom": text input by reference, replayed from a
#    copy of the input under another directory (--data).
rm -rf "$LOOM_CAPTURE_DIR"
run mpirun -np 4 --oversubscribe "$APP" --input "$in" --output "$TMP/o2.txt" --crash-on-key boom --crash-in map
[ "$status" -ne 0 ] || fail "the map-crashing job exited 0"
job=$(jobs_in)
task=$(ls "$LOOM_CAPTURE_DIR/$job")
echo "$task" | grep -qxE 's0-map-r[0-3]' || fail "map capture tasks: '$task'"
expect_ok "replay map" loom replay "$job" --task "$task"
expect_out "map replay names the line" "reproduced the crash: SIGSEGV in user code while processing key \"the line with boom in it\""
mv "$in" "$TMP/moved"
expect_error "input moved away" "loom: replay: .*input file '.*f4.txt' is missing" loom replay "$job" --task "$task"
expect_ok "replay map with --data" loom replay "$job" --task "$task" --data "$TMP/moved"
expect_out "--data reproduces" "reproduced the crash"
echo "changed" >>"$TMP/moved/f4.txt"
expect_error "changed input" "loom: replay: .*(differs|has [0-9]+ bytes)" loom replay "$job" --task "$task" --data "$TMP/moved"
mv "$TMP/moved" "$in"
sed -i '$d' "$in/f4.txt"

# 6. --capture without a crash: every task is captured and replays to identical output.
rm -rf "$LOOM_CAPTURE_DIR"
expect_ok "capture run" mpirun -np 4 --oversubscribe "$APP" --input "$in" --output "$TMP/o3.txt" --capture
job=$(jobs_in)
n=$(ls "$LOOM_CAPTURE_DIR/$job" | wc -l)
[ "$n" -eq 12 ] || fail "--capture captured $n tasks, expected 4 map + 8 reduce"
for t in s0-map-r0 s0-map-r3 s0-reduce-p0 s0-reduce-p5; do
    expect_ok "replay $t" loom replay "$job" --task "$t" -o "$TMP/$t.txt"
    expect_out "$t identical" "replay of $t: .* identical to the captured output"
done
# The reduce replay's records are the job's output lines of that partition.
grep -c . "$TMP/s0-reduce-p5.txt" >/dev/null || fail "replay -o wrote nothing"
want=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["output"]["records"])' "$LOOM_CAPTURE_DIR/$job/s0-reduce-p5/manifest.json")
[ "$(wc -l <"$TMP/s0-reduce-p5.txt")" -eq "$want" ] || fail "replay -o has $(wc -l <"$TMP/s0-reduce-p5.txt") lines, the capture emitted $want"
cut -f1 "$TMP/s0-reduce-p5.txt" | while read -r w; do
    grep -q "^$w	" "$TMP/o3.txt" || { echo "FAIL: replayed word '$w' not in the job output" >&2; exit 1; }
done || fail "replayed reduce words missing from the output"

# A selection: only the tasks named.
rm -rf "$LOOM_CAPTURE_DIR"
expect_ok "capture one task" env LOOM_CAPTURE='s0-reduce-p2' mpirun -np 4 --oversubscribe "$APP" --input "$in" --output "$TMP/o4.txt"
[ "$(ls "$LOOM_CAPTURE_DIR"/*)" = "s0-reduce-p2" ] || fail "LOOM_CAPTURE=s0-reduce-p2 captured: $(ls "$LOOM_CAPTURE_DIR"/*)"

# 7. Bad input: one clear line each.
job=$(jobs_in)
expect_error "unknown job" "loom: replay: no captured job 'nosuchjob' in " loom replay nosuchjob --task s0-map-r0
expect_error "unknown task" "loom: replay: job $job has no captured task 's9-map-r9' \(captured: s0-reduce-p2\)" loom replay "$job" --task s9-map-r9
expect_error "no task" "loom: replay: no task given" loom replay "$job"
bad=$TMP/bad/$job
mkdir -p "$TMP/bad" && cp -r "$LOOM_CAPTURE_DIR/$job" "$TMP/bad/"
head -c 40 "$LOOM_CAPTURE_DIR/$job/s0-reduce-p2/manifest.json" >"$bad/s0-reduce-p2/manifest.json"
expect_error "corrupt manifest" "loom: replay: capture .*manifest.json is corrupt" loom replay "$bad" --task s0-reduce-p2
cp "$LOOM_CAPTURE_DIR/$job/s0-reduce-p2/manifest.json" "$bad/s0-reduce-p2/"
sed -i 's/"loom_capture": *1/"loom_capture": 99/' "$bad/s0-reduce-p2/manifest.json"
expect_error "version" "loom: replay: capture format version 99 in .*; this loom reads version 1" loom replay "$bad" --task s0-reduce-p2
cp "$LOOM_CAPTURE_DIR/$job/s0-reduce-p2/manifest.json" "$bad/s0-reduce-p2/"
truncate -s -5 "$bad/s0-reduce-p2/input.rec"
expect_error "truncated input" "loom: replay: s0-reduce-p2: capture file '.*input.rec' is corrupt" loom replay "$bad" --task s0-reduce-p2
rm "$bad/s0-reduce-p2/input.rec"
expect_error "missing input" "loom: replay: s0-reduce-p2: capture file '.*input.rec' is missing" loom replay "$bad" --task s0-reduce-p2
rm "$bad/s0-reduce-p2/manifest.json"
expect_error "no manifest" "loom: replay: capture .* is incomplete: no manifest.json" loom replay "$bad" --task s0-reduce-p2

finish
