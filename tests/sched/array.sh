#!/bin/bash
# SPDX-License-Identifier: MIT
# A 10,000-task array through the real daemon: every task runs once, completes, and
# is recorded; ps and shares stay correct. (Speed is measured in loom-bench sched.)
. "$(dirname "$0")/lib.sh"

expect_ok "start" loom sched start
expect_ok "submit" loom submit --array 1-10000 -- true
expect_out "10000 tasks" "^Submitted job 1 \(10000 tasks\)$"
expect_ok "wait" loom wait 1
expect_ok "ps" loom ps --json --tasks 1
[ "$(json_get 'd["jobs"][0]["counts"]')" = "{'completed': 10000}" ] || fail "counts: $(json_get 'd["jobs"][0]["counts"]')"
[ "$(json_get 'sorted(set(t["attempt"] for t in d["jobs"][0]["tasks"]))')" = "[1]" ] || fail "attempts"
[ "$(json_get 'sum(t["index"] for t in d["jobs"][0]["tasks"])')" = 50005000 ] || fail "indices"
# Every task has its row in the database, written in batched transactions.
n=$(sqlite3 "$S/loomd.db" "select count(*) from tasks where job=1 and state=3" 2>/dev/null || echo skip)
[ "$n" = skip ] || [ "$n" = 10000 ] || fail "database rows: $n"
expect_ok "shares" loom shares --json
[ "$(json_get 'd["frameworks"][0]["demand"]["tasks"], d["frameworks"][0]["used"]["cores"]')" = "0 0" ] \
    || fail "shares after the array: $(cat "$TMP/out")"
expect_ok "stop" loom sched stop
finish
