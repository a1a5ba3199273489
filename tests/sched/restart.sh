#!/bin/bash
# SPDX-License-Identifier: MIT
# kill -9 loomd and start it again: queued and finished jobs and their logs survive;
# tasks that were running are lost, their leftover processes killed, and they are
# requeued when they have retries left, else they end "lost". A clean stop requeues
# running tasks without counting the attempt.
. "$(dirname "$0")/lib.sh"

expect_ok "start" loom sched start --cores 2 --kill-grace 1
expect_ok "finished job" loom submit -- echo kept
expect_ok "wait 1" loom wait 1
expect_ok "retried when lost" loom submit --retries 1 -- sleep 30.$$
expect_ok "lost for good" loom submit -- sleep 30.$$
expect_ok "queued" loom submit --array 1-3 -- echo queued {}
wait_state 2 running
wait_state 3 running
old=$(loomd_pid)
pids=$(pgrep -f "^sleep 30.$$$" | tr '\n' ' ')
[ -n "$pids" ] || fail "no running sleep"
kill -9 "$old"
sleep 0.2
expect_ok "restart" loom sched start --cores 2 --kill-grace 1
for p in $pids; do
    if kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" | cut -c1)" != Z ]; then
        fail "leftover task process $p still runs after the restart"
    fi
done
expect_ok "ps after restart" loom ps --all --json --tasks
[ "$(json_get 'd["jobs"][0]["state"]')" = completed ] || fail "finished job not kept"
[ "$(json_get 'd["jobs"][2]["tasks"][0]["state"]')" = lost ] || fail "job 3 not lost: $(cat "$TMP/out")"
[ "$(json_get 'd["jobs"][1]["tasks"][0]["attempt"] >= 1 and d["jobs"][1]["tasks"][0]["state"] in ("pending", "running")')" = True ] \
    || fail "job 2 not requeued"
expect_ok "logs survive" loom logs 1
expect_out "old log" "^kept$"
expect_ok "queued jobs run" loom wait 4
expect_ok "their logs" loom logs 4.3
expect_out "queued log" "^queued 3$"
wait_state 2 running
expect_ok "attempt 2" loom ps --json --tasks 2
[ "$(json_get 'd["jobs"][0]["tasks"][0]["attempt"]')" = 2 ] || fail "job 2 attempt: $(cat "$TMP/out")"

# A clean stop requeues the running task without counting the attempt.
expect_ok "stop" loom sched stop
expect_ok "start again" loom sched start --cores 2
wait_state 2 running
expect_ok "attempt still 2" loom ps --json --tasks 2
[ "$(json_get 'd["jobs"][0]["tasks"][0]["attempt"]')" = 2 ] || fail "clean stop counted an attempt"
expect_ok "cancel" loom cancel 2
expect_ok "next ids continue" loom submit -- true
expect_out "id 5" "^Submitted job 5 "
expect_ok "stop" loom sched stop
finish
