#!/bin/bash
# SPDX-License-Identifier: MIT
# loomd through the CLI: submit/ps/wait/logs/shares/nodes, arrays with {}, a time
# limit, a failing task retried, dependencies, cancel, and bad input (one line each).
. "$(dirname "$0")/lib.sh"

expect_error "not running" "^loom: ps: loomd is not running \(no daemon at .*loomd.sock" loom ps
expect_ok "start" loom sched start --cores 2 --kill-grace 1
expect_out "started line" "^loomd started: pid [0-9]+, 2 cores"
expect_error "second start" "^loom: sched: loomd is already running" loom sched start
[ "$(stat -c %a "$S")" = 700 ] || fail "state dir mode $(stat -c %a "$S"), want 700"
[ "$(stat -c %a "$S/loomd.sock")" = 600 ] || fail "socket mode $(stat -c %a "$S/loomd.sock")"
[ "$(stat -c %a "$S/loomd.db")" = 600 ] || fail "database mode $(stat -c %a "$S/loomd.db")"

# A plain task: argv, no shell (the ';' reaches echo as an argument).
expect_ok "submit" loom submit -- echo "hello; world" '$HOME'
expect_out "submitted" "^Submitted job 1 \(1 task\)$"
expect_ok "wait 1" loom wait 1
expect_ok "logs 1" loom logs 1
[ "$(cat "$TMP/out")" = 'hello; world $HOME' ] || fail "logs 1: '$(cat "$TMP/out")'"

# Arrays: {} replaced by the index, each task bound to one of the granted cores.
expect_ok "array" loom submit --array 3-7:2 -- sh -c 'echo idx={} cpus=$LOOM_CPUS job=$LOOM_JOB_ID'
expect_ok "wait 2" loom wait 2
expect_ok "logs 2.5" loom logs 2.5
expect_out "index substituted" "^idx=5 cpus=[01] job=2$"
expect_ok "ps json" loom ps --json --all --tasks 2
[ "$(json_get 'd["jobs"][0]["counts"]["completed"]')" = 3 ] || fail "array counts: $(cat "$TMP/out")"
[ "$(json_get '[t["index"] for t in d["jobs"][0]["tasks"]]')" = "[3, 5, 7]" ] || fail "array indices"

# stderr is captured apart.
expect_ok "stderr" loom submit --shell -- 'echo out; echo err >&2'
expect_ok "wait 3" loom wait 3
expect_ok "logs --err" loom logs --err 3
[ "$(cat "$TMP/out")" = err ] || fail "stderr log: '$(cat "$TMP/out")'"

# Time limit: SIGTERM at 1 s (sleep dies of it), state timeout.
expect_ok "time limit" loom submit --time 1 -- sleep 30
wait_state 4 timeout 10
expect_error "wait reports timeout" "^loom: wait: job 4 timeout \(1 of 1 tasks did not complete\)$" loom wait 4
expect_ok "ps tasks" loom ps --all --tasks 4
expect_out "killed by SIGTERM" "4\.0 +timeout +attempt 1 signal 15"

# A task that fails once, then succeeds on its retry.
expect_ok "retry" loom submit --retries 2 --shell -- \
    "n=\$(cat $SROOT/count 2>/dev/null || echo 0); echo \$((n+1)) > $SROOT/count; [ \$n -ge 1 ]"
expect_ok "wait retry" loom wait 5
expect_ok "ps retry" loom ps --json --tasks 5
[ "$(json_get 'd["jobs"][0]["tasks"][0]["attempt"]')" = 2 ] || fail "retry attempts: $(cat "$TMP/out")"
# A task that always fails: retries+1 attempts, then failed.
expect_ok "always fails" loom submit --retries 1 -- false
expect_error "wait failed" "^loom: wait: job 6 failed" loom wait 6
expect_ok "ps failed" loom ps --json --tasks 6
[ "$(json_get 'd["jobs"][0]["tasks"][0]["attempt"], d["jobs"][0]["tasks"][0]["exit_code"]')" = "2 1" ] \
    || fail "failed attempts: $(cat "$TMP/out")"

# Dependencies: afterok on a failed job never runs; afterany does.
expect_ok "afterok" loom submit --afterok 6 -- true
expect_ok "afterany" loom submit --afterany 6,1 -- true
expect_error "wait afterok" "^loom: wait: job 7 cancelled" loom wait 7
expect_ok "wait afterany" loom wait 8
expect_ok "after running" loom submit -- sleep 30
expect_ok "dependent" loom submit --afterok 9 -- true
expect_ok "ps dependent" loom ps 10
expect_out "waiting" "^10 +root +batch +waiting"
expect_ok "cancel" loom cancel 9
expect_out "cancelled" "^Cancelled job 9 \(1 task\)$"
wait_state 9 cancelled 10
wait_state 10 cancelled 5

# An MPI task: one job of 2 ranks through the launcher, one rank per granted core.
expect_ok "mpi task" loom submit -n 2 --mpi -- loom-hello
mpijob=$(sed -n 's/^Submitted job \([0-9]*\).*/\1/p' "$TMP/out")
expect_ok "wait mpi" loom wait "$mpijob"
expect_ok "mpi logs" loom logs "$mpijob"
expect_out "mpi ran" "^hello: 2 ranks, allreduce and ring exchange correct$"
expect_out "rank 0 on its core" "^rank 0 of 2 on .*, bound to PUs [0-9]+$"
[ "$(grep -c 'bound to PUs' "$TMP/out")" = 2 ] && [ "$(sed -n 's/.*bound to PUs //p' "$TMP/out" | sort -u | wc -l)" = 2 ] \
    || fail "ranks not on distinct cores: $(cat "$TMP/out")"

# Shares and nodes.
expect_ok "nodes" loom nodes
expect_out "node line" " up +2 +2 "
expect_ok "shares json" loom shares --json
[ "$(json_get 'd["frameworks"][0]["name"], d["total"]["cores"]')" = "batch 2" ] || fail "shares"
expect_ok "shares" loom shares
expect_out "batch row" "^batch +batch +1.00"

# Bad input: one clear line each, nothing queued.
expect_error "unknown job" "^loom: cancel: unknown job 999$" loom cancel 999
expect_error "bad job id" "^loom: cancel: bad job id 'x1'" loom cancel x1
expect_error "malformed array" "^loom: submit: malformed array '1-x'" loom submit --array 1-x -- true
expect_error "reversed array" "^loom: submit: malformed array '9-1'" loom submit --array 9-1 -- true
expect_error "impossible cores" "^loom: submit: impossible request: 64 cores per task, the largest node has 2$" \
    loom submit -c 64 -- true
expect_error "impossible memory" "^loom: submit: impossible request: .* MiB per task" loom submit --mem 100T -- true
expect_error "impossible total" "^loom: submit: impossible request: 3 cores" loom submit -n 3 -- true
expect_error "bad time" "^loom: submit: bad time limit 'soon'" loom submit --time soon -- true
expect_error "unknown dependency" "^loom: submit: unknown job 4242 in dependency$" loom submit --afterok 4242 -- true
expect_error "no command" "^loom: submit: no command" loom submit
expect_error "unknown state" "^loom: ps: unknown state 'sleeping'$" loom ps --state sleeping
expect_error "logs unknown" "^loom: logs: unknown job 31337$" loom logs 31337
expect_ok "ps all" loom ps --all --json
[ "$(json_get 'len(d["jobs"])')" = 11 ] || fail "bad input queued something: $(json_get 'len(d["jobs"])')"
expect_error "missing command exits 127" "^loom: wait: job 12 failed" \
    sh -c 'loom submit -- /no/such/program >/dev/null && loom wait 12'
expect_ok "its stderr says why" loom logs --err 12
expect_out "cannot start" "cannot start '/no/such/program': No such file or directory"

expect_ok "stop" loom sched stop
expect_error "stopped" "^loom: nodes: loomd is not running" loom nodes
finish
