#!/bin/bash
# SPDX-License-Identifier: MIT
# A framework's offers: loom-sweep (examples/sweep) registers with loomd, gets offers
# of whole cores, launches on them, and gets status updates; DRF between it and the
# batch framework keeps one core each while both want more, then the sweep takes the
# whole node once the batch queue is empty. Bad framework input gets one line.
. "$(dirname "$0")/lib.sh"

expect_ok "start" loom sched start --cores 2
expect_ok "batch backlog" loom submit --array 1-10 -- sleep 0.4
loom sweep --points 20 -- sh -c 'sleep 0.4; echo point {}' >"$TMP/sweep.out" 2>"$TMP/sweep.err" &
sweep=$!
both=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    sleep 0.35
    # No preemption: until a batch task ends after the sweep registered, batch may
    # rightly hold both cores. Check from the sweep's first launch on.
    grep -q " offer " "$TMP/sweep.out" 2>/dev/null || continue
    loom shares --json >"$TMP/out" 2>/dev/null || continue
    line=$(json_get '" ".join("%s:%d:%d" % (f["name"], f["used"]["cores"], f["demand"]["tasks"]) for f in d["frameworks"])')
    case "$line" in
    *"batch:1:"*"sweep:1:"*) both=$((both + 1)) ;;
    *"batch:2:"*"sweep:"*) fail "batch held both cores while the sweep wanted one: $line" ;;
    *"batch:0:"[1-9]*"sweep:2:"*) fail "sweep held both cores while batch had demand: $line" ;;
    esac
done
[ "$both" -ge 2 ] || fail "DRF sharing not seen (one core each) in the samples: $both"
wait "$sweep" || fail "loom sweep failed: $(cat "$TMP/sweep.err")"
grep -q "^sweep 'sweep': 20 points, 20 completed, 0 failed, at most 2 tasks at once" "$TMP/sweep.out" \
    || fail "sweep summary: $(tail -1 "$TMP/sweep.out")"
grep -q "offer [0-9]* on .*: 1 cores -> 1 tasks" "$TMP/sweep.out" || fail "no one-core offer seen"
expect_ok "batch completed" loom wait 1
expect_ok "framework tasks listed" loom ps --all --json
[ "$(json_get 'sum(1 for j in d["jobs"] if j["framework"] == "sweep" and j["state"] == "completed")')" = 20 ] \
    || fail "sweep tasks in ps"
expect_ok "a sweep task's log" loom logs 15
expect_out "point output" "^point [0-9]+$"
expect_ok "shares keep the gone framework" loom shares
expect_out "sweep row" "^sweep +offers +1.00 .*\(gone\)$"

expect_error "reserved name" "^loom: sweep: bad framework name 'batch'$" loom sweep --name batch -- true
expect_error "no command" "^loom: sweep: need a command" loom sweep --points 3
expect_ok "stop" loom sched stop
expect_error "daemon gone" "^loom: sweep: loomd is not running" loom sweep -- true
finish
