#!/bin/bash
# SPDX-License-Identifier: MIT
# Node failure under loomd: the head runs on h1 (scheduling only) and an agent on
# each of h1..h3, started through the rsh agent (nsrsh) and talking TCP across the
# bridge. While a task array runs on all three, every process of h3 is killed at
# once (agent and tasks). Then: h3 is marked down within the heartbeat timeout; the
# tasks it ran are requeued and finish on h1 and h2; every task's result is there
# exactly once, with the right checksum (none lost, none twice); loom sched stop
# ends the agents and nothing is left running on any host.
. "$(dirname "$0")/lib.sh"
cluster_require loom loomd
HB=3
export LOOM_STATE_DIR=$TMP/state

netns_start 3
step "hosts up: $LOOM_NETNS"
expect_ok "head on h1" on h1 loom sched start --no-local --listen 10.77.0.1:0 \
    --heartbeat-timeout $HB --kill-grace 1 --state-dir "$LOOM_STATE_DIR"
addr=$(cat "$LOOM_STATE_DIR/loomd.addr")
[ "${addr%:*}" = 10.77.0.1 ] || fail "head listens on '$addr'"
apids=()
for h in h1 h2 h3; do
    nsrsh "$h" loom sched agent "$addr" --state-dir "$LOOM_STATE_DIR" \
        >"$TMP/agent-$h.log" 2>&1 &
    apids+=($!)
done
up=0
for _ in $(seq 1 200); do
    up=$(loom nodes --json 2>/dev/null | grep -c '"state": "up"')
    [ "$up" -eq 3 ] && break
    sleep 0.05
done
checks=$((checks + 1))
[ "$up" -eq 3 ] || fail "$up of 3 agents joined: $(cat "$TMP"/agent-*.log)"
expect_ok "nodes" loom nodes
expect_out "h3 up" "^h3 +agent +up "
step "3 agents joined $addr"

# Each task: its index, a checksum of the index, the node that ran it.
task='sleep 1.5; echo "{} $(echo task{} | sha256sum | cut -c1-16) $LOOM_NODE"'
n=18
expect_ok "submit" loom submit --retries 2 --array 1-$n -- sh -c "$task"
on_h3=
for _ in $(seq 1 100); do
    loom ps --json --tasks 1 >"$TMP/ps"
    on_h3=$(/usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(t["index"]) for t in d["jobs"][0]["tasks"]
               if t["state"] == "running" and t.get("node") == "h3"))' "$TMP/ps")
    [ -n "$on_h3" ] && break
    sleep 0.05
done
checks=$((checks + 1))
[ -n "$on_h3" ] || fail "no task runs on h3"
netns_kill_host h3
t_kill=$EPOCHREALTIME
step "h3 killed while running tasks $on_h3"

state=
for _ in $(seq 1 $((HB * 20 + 20))); do
    state=$(loom nodes --json | /usr/bin/python3 -c 'import json,sys
print("".join(n["state"] for n in json.load(sys.stdin)["nodes"] if n["name"] == "h3"))')
    [ "$state" = down ] && break
    sleep 0.05
done
t_down=$(awk -v a="$t_kill" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
checks=$((checks + 1))
[ "$state" = down ] || fail "h3 is '$state' $t_down s after it died"
awk -v t="$t_down" -v h=$HB 'BEGIN{exit !(t <= h)}' ||
    fail "h3 marked down after $t_down s, beyond the $HB s heartbeat timeout"
step "h3 marked down after $t_down s (heartbeat timeout $HB s)"

expect_ok "array completes" timeout 60 loom wait 1
step "array completed"
# Every result once, right checksum; the tasks h3 was running finished elsewhere,
# in a later attempt.
for i in $(seq 1 $n); do
    echo "== $i"
    loom logs "1.$i" 2>&1
done >"$TMP/logs"
loom ps --json --tasks 1 >"$TMP/ps"
checks=$((checks + 1))
/usr/bin/python3 - "$TMP/logs" "$TMP/ps" $n "$on_h3" >"$TMP/ran-on" <<'EOF' || fail "results: see above"
import hashlib, json, sys
logs, ps, n, on_h3 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
blocks = open(logs).read().split("== ")[1:]
tasks = {str(t["index"]): t for t in json.load(open(ps))["jobs"][0]["tasks"]}
bad = 0
def no(msg):
    global bad
    print("FAIL:", msg, file=sys.stderr)
    bad += 1
if len(blocks) != n:
    no(f"{len(blocks)} logs for {n} tasks")
for b in blocks:
    i, *lines = b.rstrip("\n").split("\n")
    if len(lines) != 1:
        no(f"task {i}: {len(lines)} results: {lines}")
        continue
    idx, s, node = lines[0].split()
    if (idx, s) != (i, hashlib.sha256(f"task{i}\n".encode()).hexdigest()[:16]):
        no(f"task {i}: wrong result {idx} {s}")
    if i in on_h3 and (node == "h3" or tasks[i]["attempt"] < 2):
        no(f"task {i} ran on h3 when it died: result from {node}, attempt {tasks[i]['attempt']}")
    print(node)
sys.exit(1 if bad else 0)
EOF
step "$n results checked once each; per node: $(sort "$TMP/ran-on" | uniq -c | tr -s ' ' | tr '\n' ';')"

expect_ok "stop" loom sched stop
for p in "${apids[@]}"; do
    for _ in $(seq 1 100); do cl_alive "$p" || break; sleep 0.05; done
    checks=$((checks + 1))
    cl_alive "$p" && fail "agent (nsrsh pid $p) still runs after loom sched stop"
    wait "$p" 2>/dev/null
done
netns_stop
step "hosts down"
finish
