#!/bin/bash
# SPDX-License-Identifier: MIT
# Agents on other nodes, on one machine: a head (loomd --listen on loopback) and two
# agents started as separate processes, each presenting its own node name and one
# core. Tasks land on all three nodes, bound to the granted cores; their logs come
# back to the head. kill -9 of one agent and SIGSTOP of the other (a silent node)
# mark their nodes down within the heartbeat timeout; their tasks are requeued and
# finish elsewhere, and every task's output is there exactly once (checksums). A
# restarted head knows the agents' nodes (SQLite) and the agents come back. A task's
# output reaches the head while it runs on an agent (loom logs, loom logs --follow).
# Bad input: wrong secret, a 0644 secret file, an unreachable head, a node name
# already taken, garbage on the TCP port.
. "$(dirname "$0")/lib.sh"

HB=2
agent_pids=""
cleanup_agents () {
    for p in $agent_pids; do
        kill -CONT "$p" 2>/dev/null
        kill -9 "$p" 2>/dev/null
    done
    cleanup_sched
}
trap cleanup_agents EXIT

# start_agent NAME PUS: an agent in the background; its pid in $apid.
start_agent () {
    loom sched agent "$ADDR" --node-name "$1" --cpuset "$2" >"$TMP/agent-$1.log" 2>&1 &
    apid=$!
    agent_pids="$agent_pids $apid"
}

# node_state NAME: up, down or nothing.
node_state () {
    loom nodes --json 2>/dev/null \
        | /usr/bin/python3 -c "import json,sys; print(''.join(n['state'] for n in json.load(sys.stdin)['nodes'] if n['name']==sys.argv[1]))" "$1"
}

# wait_node NAME STATE SECONDS: poll until NAME is in STATE; the seconds taken in
# $waited (no subshell: a failure must count).
wait_node () {
    local t0=$EPOCHREALTIME el
    while :; do
        el=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
        [ "$(node_state "$1")" = "$2" ] && break
        if awk -v e="$el" -v l="$3" 'BEGIN{exit !(e > l)}'; then
            fail "node $1 not $2 after $3 s: $(loom nodes 2>&1 | tr '\n' '|')"
            return 1
        fi
        sleep 0.05
    done
    waited=$el
}

# The task: checksum of its index, the node that ran it, the PUs it may run on.
TASK='sleep $0; echo "{} $(echo task{} | sha256sum | cut -c1-16) $LOOM_NODE $(awk "/^Cpus_allowed_list/{print \$2}" /proc/self/status)"'

# check_outputs JOB FIRST LAST: each task's log is exactly one line with the right
# checksum (nothing lost, nothing twice); the nodes that ran them in $TMP/nodes.
check_outputs () {
    local job=$1 i line want
    : >"$TMP/nodes"
    for i in $(seq "$2" "$3"); do
        if ! loom logs "$job.$i" >"$TMP/log" 2>"$TMP/logerr"; then
            fail "job $job task $i: no log: $(cat "$TMP/logerr")"
            continue
        fi
        want=$(echo "task$i" | sha256sum | cut -c1-16)
        if [ "$(wc -l <"$TMP/log")" -ne 1 ]; then
            fail "job $job task $i: $(wc -l <"$TMP/log") lines: $(tr '\n' '|' <"$TMP/log")"
            continue
        fi
        read -r idx sum node cpus <"$TMP/log"
        [ "$idx $sum" = "$i $want" ] || fail "job $job task $i: wrong result '$idx $sum'"
        echo "$node $cpus" >>"$TMP/nodes"
    done
}

expect_error "bad timeout" "^loom: sched: bad --heartbeat-timeout '0'" \
    loom sched start --listen 127.0.0.1:0 --heartbeat-timeout 0
expect_error "no node at all" "^loom: sched: --no-local needs --listen" \
    loom sched start --no-local
expect_error "agent option to start" "^loom: sched: --secret-file applies to 'agent' only" \
    loom sched start --secret-file /dev/null
expect_ok "start head" loom sched start --cores 1 --node-name head --kill-grace 1 \
    --listen 127.0.0.1:0 --heartbeat-timeout $HB
expect_out "agent hint" "agents join with: loom sched agent 127\.0\.0\.1:[0-9]+ "
ADDR=$(cat "$S/loomd.addr")
PORT=${ADDR##*:}
[ "$(stat -c %a "$S/agent.secret")" = 600 ] || fail "secret file not 0600"

# Bad input: each one line, non-zero exit, and the head keeps serving.
printf 'not-the-secret-0123456789\n' >"$TMP/bad.secret"
chmod 600 "$TMP/bad.secret"
expect_error "wrong secret" "^loomd: agent: the head refused this agent: wrong secret" \
    loom sched agent "$ADDR" --node-name x1 --secret-file "$TMP/bad.secret"
cp "$S/agent.secret" "$TMP/open.secret"
chmod 644 "$TMP/open.secret"
expect_error "secret 0644" "secret file .*open.secret has mode 0644; it must be 0600" \
    loom sched agent "$ADDR" --node-name x2 --secret-file "$TMP/open.secret"
expect_error "unreachable head" "^loomd: agent: cannot reach the head at 127\.0\.0\.1:1: " \
    loom sched agent 127.0.0.1:1 --node-name x3
expect_error "bad address" "bad head address 'nowhere'" loom sched agent nowhere
expect_error "no address" "say where the head listens" loom sched agent
/usr/bin/python3 - "$PORT" <<'EOF' || fail "garbage on the TCP port"
import socket, sys
for junk in (b"\xff\xff\xff\xffjunk", b"\x00\x00\x00\x05notjs", b"\x00\x00\x00\x0b{\"op\":\"hb\"}"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(junk)
    s.settimeout(5)
    assert s.recv(100) == b""  # dropped
    s.close()
EOF
expect_ok "head still serves" loom nodes
expect_out "only the head" "^head +head +up"
[ "$(loom nodes --json | grep -c '"name"')" = 1 ] || fail "a refused agent became a node"

start_agent a1 0
A1=$apid
start_agent a2 1
A2=$apid
wait_node a1 up 10
wait_node a2 up 10
expect_error "name taken" "node 'a1' already has a connected agent" \
    loom sched agent "$ADDR" --node-name a1 --cpuset 0
expect_ok "nodes" loom nodes
expect_out "a1 listed" "^a1 +agent +up +1 "
expect_out "a2 listed" "^a2 +agent +up +1 "

# Tasks land on every node, bound to the cores granted there; logs come back.
expect_ok "array" loom submit --array 1-12 -- sh -c "$TASK" 0.3
expect_ok "wait array" loom wait 1
check_outputs 1 1 12
for n in head a1 a2; do
    grep -q "^$n " "$TMP/nodes" || fail "no task ran on $n: $(sort "$TMP/nodes" | uniq -c | tr '\n' '|')"
done
grep -q "^a1 0$" "$TMP/nodes" || fail "a1 task not bound to PU 0"
grep -q "^a2 1$" "$TMP/nodes" || fail "a2 task not bound to PU 1"
[ "$(grep -cv '^a1 0$\|^a2 1$\|^head 0$' "$TMP/nodes")" = 0 ] \
    || fail "tasks bound elsewhere than granted: $(sort -u "$TMP/nodes" | tr '\n' '|')"
expect_ok "stderr of a remote task" loom submit -- sh -c 'echo oops >&2; exit 3'
loom wait 2 >/dev/null 2>&1
expect_ok "err log" loom logs --err 2
expect_out "its stderr" "^oops$"
expect_ok "exit code" loom ps --json --tasks 2
[ "$(json_get 'd["jobs"][0]["tasks"][0]["exit_code"]')" = 3 ] || fail "exit code not 3"

# Node failures while tasks run there: kill -9 of a1's agent (its connection closes),
# SIGSTOP of a2's agent (silent: only the heartbeat tells). Each node is down within
# the timeout, its tasks are requeued and finish on the other nodes, once.
expect_ok "long array" loom submit --retries 2 --array 1-9 -- sh -c "$TASK" 1
for i in $(seq 100); do
    loom ps --json --tasks 3 >"$TMP/ps" 2>/dev/null
    grep -q '"node": "a1"' "$TMP/ps" && grep -q '"node": "a2"' "$TMP/ps" && break
    sleep 0.05
done
grep -q '"node": "a1"' "$TMP/ps" || fail "no task running on a1"
kill -9 "$A1"
wait_node a1 down $HB
echo "a1 (kill -9) down after ${waited}s"
kill -STOP "$A2"
wait_node a2 down $((HB + 1))
echo "a2 (SIGSTOP, silent) down after ${waited}s (timeout $HB s)"
expect_ok "wait after failures" loom wait 3
check_outputs 3 1 9
[ "$(grep -c '^head ' "$TMP/nodes")" -ge 2 ] || fail "tasks did not finish on the head"
expect_ok "requeued attempts" loom ps --json --tasks 3
[ "$(json_get 'sum(t["attempt"] > 1 for t in d["jobs"][0]["tasks"])')" -ge 2 ] \
    || fail "no task was requeued: $(cat "$TMP/out")"
grep -q "node a1 down: connection closed" "$S/loomd.log" || fail "no 'a1 down' in the log"
grep -q "node a2 down: no heartbeat" "$S/loomd.log" || fail "no 'a2 down' in the log"

# The silent agent wakes up: it finds the head gone, kills what it ran, rejoins.
kill -CONT "$A2"
wait_node a2 up 10
# A new agent for a1 brings that node back.
start_agent a1 0
A1=$apid
wait_node a1 up 10

# kill -9 of the head: the restarted head knows the agents' nodes (down until they
# rejoin) and the agents come back by themselves.
kill -9 "$(loomd_pid)"
sleep 0.3
expect_ok "restart head" loom sched start --cores 1 --node-name head --kill-grace 1 \
    --listen "127.0.0.1:$PORT" --heartbeat-timeout $HB
wait_node a1 up 15
wait_node a2 up 15
expect_ok "after the restart" loom submit --array 1-6 -- sh -c "$TASK" 0.2
expect_ok "wait" loom wait 4
check_outputs 4 1 6
[ "$(cut -d' ' -f1 "$TMP/nodes" | sort -u | wc -l)" -ge 2 ] || fail "tasks used one node only"

# A running task's output reaches the head while it runs on an agent (sent every
# 0.2 s); loom logs --follow prints it as it comes and returns at the task's end.
expect_ok "talkers" loom submit --array 1-3 -- sh -c 'echo first {}; sleep 6; echo second {}'
loom logs --follow 5.2 >"$TMP/follow" 2>&1 &
follower=$!
remote=
for i in $(seq 100); do
    loom ps --json --tasks 5 >"$TMP/ps" 2>/dev/null
    remote=$(/usr/bin/python3 -c 'import json,sys
print(next((t["index"] for t in json.load(open(sys.argv[1]))["jobs"][0]["tasks"]
            if t["state"] == "running" and t.get("node") in ("a1", "a2")), ""))' "$TMP/ps" 2>/dev/null)
    [ -n "$remote" ] && break
    sleep 0.05
done
checks=$((checks + 1))
if [ -z "$remote" ]; then
    fail "no talker runs on an agent: $(cat "$TMP/ps")"
else
    t0=$EPOCHREALTIME
    for i in $(seq 50); do
        loom logs "5.$remote" >"$TMP/live" 2>&1
        grep -q "^first $remote$" "$TMP/live" && break
        sleep 0.05
    done
    lag=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
    # The first line without the second: it reached the head before the task ended
    # (an agent sends the rest, then the end, only when the task is over).
    if ! grep -q "^first $remote$" "$TMP/live" || grep -q second "$TMP/live"; then
        fail "task 5.$remote on an agent: its log while running: $(tr '\n' '|' <"$TMP/live")"
    fi
    echo "output of task 5.$remote (on an agent) on the head within ${lag}s, while it runs"
fi
checks=$((checks + 1))
timeout 20 tail --pid=$follower -f /dev/null || fail "loom logs --follow 5.2 did not return"
wait $follower || fail "loom logs --follow 5.2 failed: $(cat "$TMP/follow")"
[ "$(cat "$TMP/follow")" = "$(printf 'first 2\nsecond 2')" ] \
    || fail "loom logs --follow 5.2 printed: $(tr '\n' '|' <"$TMP/follow")"
expect_ok "wait talkers" loom wait 5

# loom sched stop tells the agents: they stop too.
expect_ok "stop" loom sched stop
alive () { ps -o stat= -p "$1" 2>/dev/null | grep -qv Z; }
for p in $A1 $A2; do
    for i in $(seq 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && fail "agent $p still runs after loom sched stop"
done
finish
