#!/bin/bash
# SPDX-License-Identifier: MIT
# Central logs of --mpi tasks: every rank's stdout and stderr and Loom's own lines in
# one job log, stamped with time and rank; `loom logs --rank/--grep/--all` pick from
# it, also after the job ended and after a kill -9 and restart of loomd. The trace of
# an --mpi task run with --trace is merged into PREFIX.trace when it ends, also when a
# rank was killed. Bad input: one line, non-zero exit.
. "$(dirname "$0")/lib.sh"

ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
expect_ok "start" loom sched start --cores 2 --kill-grace 1

# 4 ranks on the 2 granted cores, each writing its own lines on stdout and stderr.
expect_ok "submit 4 ranks" loom submit --mpi -n 2 --ranks 4 --shell -- \
    'echo "out line A of rank $LOOM_RANK"; echo "err line of rank $LOOM_RANK" >&2; echo "out line B of rank $LOOM_RANK"'
expect_out "job 1" "^Submitted job 1 "
expect_ok "wait 1" loom wait 1

expect_ok "stdout of all ranks" loom logs 1
[ "$(grep -c '^out line [AB] of rank [0-3]$' "$TMP/out")" = 8 ] || fail "stdout: $(cat "$TMP/out")"
grep -q "err line" "$TMP/out" && fail "stderr lines in the stdout view"
expect_ok "rank 2" loom logs --rank 2 1
[ "$(cat "$TMP/out")" = "out line A of rank 2
out line B of rank 2" ] || fail "--rank 2: '$(cat "$TMP/out")'"
expect_ok "rank 2 stderr" loom logs --err --rank 2 1
[ "$(cat "$TMP/out")" = "err line of rank 2" ] || fail "--err --rank 2: '$(cat "$TMP/out")'"
expect_ok "grep" loom logs --grep 'line B of rank [13]$' 1
[ "$(sort "$TMP/out" | tr '\n' '|')" = "out line B of rank 1|out line B of rank 3|" ] \
    || fail "--grep: '$(cat "$TMP/out")'"
expect_ok "grep and rank" loom logs --grep 'B' --rank 3 1
[ "$(cat "$TMP/out")" = "out line B of rank 3" ] || fail "--grep --rank: '$(cat "$TMP/out")'"
expect_ok "prefix" loom logs --prefix --rank 0 1
[ "$(grep -cE "^$ts rank 0 out: out line [AB] of rank 0$" "$TMP/out")" = 2 ] \
    || fail "--prefix: '$(cat "$TMP/out")'"
expect_ok "all of rank 1" loom logs --all --rank 1 1
expect_out "rank 1 stdout" "^$ts rank 1 out: out line A of rank 1$"
expect_out "rank 1 stderr" "^$ts rank 1 err: err line of rank 1$"
expect_out "rank 1 end, as the launcher saw it" "^$ts rank 1 loom: exited with status 0 after [0-9.]+ s"
grep -v -q " rank 1 " "$TMP/out" && fail "--all --rank 1 shows other lines: $(grep -v ' rank 1 ' "$TMP/out")"
expect_ok "all" loom logs --all 1
expect_out "loomd's start line" "^$ts loomd: task 1\.0 started \(attempt 1\): 4 ranks on .*, PUs 0-1$"
expect_out "loomd's end line" "^$ts loomd: task 1\.0 ended after [0-9.]+ s: exit status 0$"
[ "$(grep -cE "^$ts rank [0-3] (out|err|loom): " "$TMP/out")" = 16 ] || fail "--all: $(cat "$TMP/out")"
expect_ok "json" loom logs --json --rank 3 1
[ "$(json_get 'd["data"], d["ranks"], d["job"]')" = "out line A of rank 3
out line B of rank 3
 4 1" ] || fail "--json: $(cat "$TMP/out")"
# The file is the job owner's only.
[ "$(stat -c %a "$S/logs/1/0.log")" = 600 ] || fail "job log mode $(stat -c %a "$S/logs/1/0.log")"

# A real MPI program at 4 ranks: each rank's line is tagged with its own rank.
expect_ok "hello 4 ranks" loom submit --mpi -n 2 --ranks 4 -- loom-hello
expect_ok "wait 2" loom wait 2
for r in 0 1 2 3; do
    expect_ok "hello rank $r" loom logs --rank $r 2
    expect_out "rank $r's own line" "^rank $r of 4 on "
    [ "$(grep -c '^rank ' "$TMP/out")" = 1 ] || fail "rank $r shows others' lines: $(cat "$TMP/out")"
done
expect_ok "hello stdout" loom logs 2
expect_out "result" "^hello: 4 ranks, allreduce and ring exchange correct$"

# A failing rank: its status is in the log, and the task failed.
expect_ok "one rank fails" loom submit --mpi -n 2 --ranks 4 --shell -- \
    'echo "rank $LOOM_RANK here"; [ "$LOOM_RANK" != 3 ] || exit 5; sleep 0.2'
expect_error "wait failed" "^loom: wait: job 3 failed" loom wait 3
expect_ok "rank 3's end" loom logs --all --rank 3 3
expect_out "exit 5" "^$ts rank 3 loom: exited with status 5 after "

# Tracing: the ranks' files are merged into PREFIX.trace when the task ends.
tj="$LOOM_BUILD_DIR/tests/trace-job"
expect_ok "traced job" loom submit --mpi -n 2 --ranks 4 --trace "$TMP/tj" -- "$tj" --records 20000
expect_ok "wait traced" loom wait 4
[ -s "$TMP/tj.trace" ] || fail "no merged trace $TMP/tj.trace"
expect_ok "merge said so" loom logs --all 4
expect_out "merge line" "^$ts loomd: merged the trace of 4 of 4 ranks into $TMP/tj\.trace \("
expect_ok "merged trace info" loom trace info "$TMP/tj.trace"
[ "$(grep -cE '^rank .* closed \(rank [0-3]\)' "$TMP/out")" = 4 ] || fail "merged trace: $(cat "$TMP/out")"
expect_ok "merged summary" loom trace summary "$TMP/tj.trace"
expect_out "every rank's phases" "^  test\.reduce +4 "
# A relative prefix is the task's directory's; a killed rank's file is merged too.
expect_ok "killed rank" sh -c "cd '$TMP' && loom submit --mpi -n 2 --ranks 4 --trace tk -- '$tj' --records 20000 --die 2"
expect_error "wait killed" "^loom: wait: job 5 failed" loom wait 5
[ -s "$TMP/tk.trace" ] || fail "no merged trace of the job with a killed rank"
expect_ok "killed rank info" loom trace info "$TMP/tk.trace"
expect_out "rank 2 killed, still there" "^rank .* killed or running \(rank 2\)"
[ "$(grep -c '^rank ' "$TMP/out")" = 4 ] || fail "killed job's merged trace: $(cat "$TMP/out")"
expect_ok "killed rank's end" loom logs --all --rank 2 5
expect_out "signal 9" "^$ts rank 2 loom: killed by signal 9 "

# Bad input: one clear line, non-zero exit.
expect_error "unknown job" "^loom: logs: unknown job 4242$" loom logs --rank 1 4242
expect_error "rank out of range" "^loom: logs: job 1 has 4 ranks \(0-3\): no rank 4$" loom logs --rank 4 1
expect_error "bad rank" "^loom: logs: bad rank 'x' \(expected a number from 0\)$" loom logs --rank x 1
expect_error "negative rank" "^loom: logs: bad rank '-1'" loom logs --rank -1 1
expect_error "bad pattern" "^loom: logs: bad --grep pattern '\(': " loom logs --grep '(' 1
expect_error "err and all" "^loom: logs: give --err or --all, not both$" loom logs --err --all 1
expect_error "ranks without mpi" "^loom: submit: --ranks needs --mpi" loom submit --ranks 4 -- true
expect_ok "plain task" loom submit -- echo plain
expect_ok "wait plain" loom wait 6
expect_error "rank of a plain task" "^loom: logs: job 6 task 0 is not an MPI task \(--mpi\): its output has no ranks$" \
    loom logs --rank 0 6
expect_ok "grep a plain task" loom logs --grep pla 6
[ "$(cat "$TMP/out")" = plain ] || fail "plain --grep: '$(cat "$TMP/out")'"

# kill -9 and restart: the logs are all still there, and a task that was running
# when loomd died has what it wrote before, and a line saying it was lost.
expect_ok "running at the kill" loom submit --mpi -n 2 --ranks 4 --shell -- \
    'echo "started $LOOM_RANK"; exec sleep 30'
wait_state 7 running
for i in $(seq 1 100); do
    [ "$(loom logs 7 2>/dev/null | grep -c '^started')" = 4 ] && break
    sleep 0.1
done
old=$(loomd_pid)
kill -9 "$old"
sleep 0.2
expect_ok "restart" loom sched start --cores 2 --kill-grace 1
expect_ok "rank 2 after restart" loom logs --rank 2 1
[ "$(cat "$TMP/out")" = "out line A of rank 2
out line B of rank 2" ] || fail "--rank 2 after restart: '$(cat "$TMP/out")'"
expect_ok "grep after restart" loom logs --grep 'of rank 1$' --err 1
[ "$(cat "$TMP/out")" = "err line of rank 1" ] || fail "--grep after restart: '$(cat "$TMP/out")'"
expect_ok "hello after restart" loom logs --rank 3 2
expect_out "hello rank 3" "^rank 3 of 4 on "
expect_error "range after restart" "^loom: logs: job 2 has 4 ranks \(0-3\): no rank 9$" loom logs --rank 9 2
wait_state 7 lost
expect_ok "lost task's log" loom logs --all 7
expect_out "what rank 3 wrote before" "^$ts rank 3 out: started 3$"
expect_out "lost line" "^$ts loomd: task 7\.0 was running when loomd died \(attempt 1\): lost$"
expect_ok "stop" loom sched stop
finish
