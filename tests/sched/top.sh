#!/bin/bash
# SPDX-License-Identifier: MIT
# loom top --once against a loomd running known tasks: task ids, cores, CPU% of a
# busy task against an idle one, RSS of a task holding 64 MiB, queue depth (a pending
# and a waiting job), and DRF shares. Bad input: one line, non-zero exit.
. "$(dirname "$0")/lib.sh"

expect_error "not running" "^loom: top: loomd is not running" loom top --once
expect_ok "start" loom sched start --cores 2 --mem 4096 --kill-grace 1
# Job 1: a busy loop on one core. Job 2: 64 MiB touched, then idle, 1 GiB accounted.
expect_ok "busy" loom submit --time 60 -- sh -c 'while :; do :; done'
expect_ok "rss" loom submit --time 60 --mem 1G -- /usr/bin/python3 -c \
    'import time; b = bytearray(64 << 20); print("ready", flush=True); time.sleep(60)'
# Job 3 needs both cores: pending. Job 4 waits for job 3: waiting.
expect_ok "pending" loom submit -c 2 -- true
expect_ok "waiting" loom submit --afterok 3 -- true
wait_state 1 running
wait_state 2 running
for i in $(seq 1 100); do # python has allocated its 64 MiB
    loom logs 2 2>/dev/null | grep -q ready && break
    sleep 0.1
done

expect_ok "top json" loom top --once --interval 1 --json
cp "$TMP/out" "$TMP/top.json"
[ "$(json_get '[(t["job"], t["index"], t["cores"], t["cpus"] != "") for t in d["tasks"]]')" = \
    "[(1, 0, 1, True), (2, 0, 1, True)]" ] || fail "tasks: $(json_get 'd["tasks"]')"
[ "$(json_get 'd["nodes"][0]["cores"], d["nodes"][0]["busy_cores"], d["total"]["cores"], d["free"]["cores"]')" = \
    "2 2 2 0" ] || fail "cores: $(json_get 'd["nodes"], d["total"], d["free"]')"
[ "$(json_get 'd["queue"]["pending_tasks"], d["queue"]["pending_jobs"], d["queue"]["waiting_jobs"], d["queue"]["running_tasks"]')" = \
    "1 1 1 2" ] || fail "queue: $(json_get 'd["queue"]')"
# DRF: batch and its one user hold 2 of 2 cores (and 1 GiB of 4): share 1.
[ "$(json_get 'd["frameworks"][0]["name"], d["frameworks"][0]["share"], d["frameworks"][0]["users"][0]["share"], d["frameworks"][0]["used"]["cores"], d["frameworks"][0]["used"]["mem"], d["frameworks"][0]["demand"]["tasks"]')" = \
    "batch 1.0 1.0 2 1024 1" ] || fail "shares: $(json_get 'd["frameworks"]')"
# The busy loop runs, the sleeper does not; the sleeper holds its 64 MiB.
[ "$(json_get 'd["tasks"][0]["cpu_pct"] > 5 and d["tasks"][1]["cpu_pct"] < 2')" = True ] \
    || fail "CPU%: busy $(json_get 'd["tasks"][0]["cpu_pct"]'), idle $(json_get 'd["tasks"][1]["cpu_pct"]')"
[ "$(json_get 'd["tasks"][1]["rss_kib"] >= 64 * 1024 and d["tasks"][1]["rss_kib"] < 1024 * 1024')" = True ] \
    || fail "RSS: $(json_get 'd["tasks"][1]["rss_kib"]') KiB"
[ "$(json_get 'd["tasks"][0]["nprocs"] >= 1 and d["tasks"][0]["sampled"] and d["tasks"][0]["node"] == d["nodes"][0]["name"]')" = True ] \
    || fail "task 1 sample: $(json_get 'd["tasks"][0]')"

expect_ok "top text" loom top --once --interval 0.5
expect_out "queue line" "^Queue: 1 pending task \(1 job\), 1 waiting job, 2 running tasks$"
expect_out "cores line" "^Cores: 2 total, 2 busy; "
expect_out "busy task row" "^1\.0 +root +sh +[^ ]+ +1 +[01] +[0-9]+ +[0-9.]+ +[0-9.]+ +0:[0-9]{2}$"
expect_out "python row" "^2\.0 +root +/usr/bin/python3 "
expect_out "batch share" "^batch +1\.00 +1\.0000 +2 +1024 +1$"
# Live mode: frames every --interval until stopped (here by timeout).
run timeout 1.8 loom top --interval 0.5
[ "$(grep -c '^Queue: ' "$TMP/out")" -ge 2 ] || fail "live mode: $(grep -c '^Queue: ' "$TMP/out") frames"

expect_error "bad interval" "^loom: top: --interval must be a number of seconds" loom top --interval 0
expect_error "bad interval text" "^loom: top: --interval must be a number of seconds from 0.05 to 86400, not 'x'$" \
    loom top --interval x
expect_error "extra argument" "^loom: top: unexpected argument 'now'$" loom top now
expect_ok "cancel" loom cancel 1 2 3 4
expect_ok "stop" loom sched stop
finish
