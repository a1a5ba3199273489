#!/bin/bash
# SPDX-License-Identifier: MIT
# loomd across three emulated hosts h1..h3 (this machine's cores each), its agents
# started by `loom sched start --hostfile` itself through the rsh agent (nsrsh):
# - a plain task of more slots than one node has runs one process per slot on every
#   host (through mpirun), each bound to exactly the PUs loomd granted it there;
# - an --mpi task of as many ranks (loom-hello: allreduce and ring checked) runs
#   across the hosts, each rank bound as granted, its lines in the job log by rank;
# - a task's output reaches the head while it runs on an agent (`loom logs` during
#   the run; `loom logs --follow` prints to its end and returns);
# - bad --agents/--hostfile input gives one line and starts nothing.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loomd loom-hello
export LOOM_STATE_DIR=$TMP/state

expect_error "missing hostfile" "nonexistent" \
    loom sched start --hostfile "$TMP/nonexistent"
expect_error "bad --agents" "bad --agents 'ssh'" loom sched start --agents ssh
expect_error "--agents slurm outside Slurm" "not inside a Slurm allocation" \
    env -u SLURM_JOB_NODELIST -u SLURM_NODELIST loom sched start --agents slurm
expect_error "nothing was started" "loomd is not running|no loomd|not running" loom nodes

netns_start 3
step "hosts up: $LOOM_NETNS"
printf '# the emulated hosts\nh1\nh2\nh3\n' >"$TMP/hosts"
expect_ok "start: head on h1, agents from the hostfile" on h1 loom sched start \
    --hostfile "$TMP/hosts" --rsh-agent "$CLUSTER_BIN/nsrsh" --kill-grace 1 \
    --state-dir "$LOOM_STATE_DIR"
expect_out "start says the agents joined" "^agents joined from every node of $TMP/hosts"
expect_ok "nodes" loom nodes --json
cp "$TMP/out" "$TMP/nodes"
nodes=$(/usr/bin/python3 -c 'import json,sys
print(" ".join(sorted(n["name"] + ":" + n["state"] + ":" + n["role"]
                      for n in json.load(open(sys.argv[1]))["nodes"])))' "$TMP/out")
checks=$((checks + 1))
[ "$nodes" = "h1:up:agent h2:up:agent h3:up:agent" ] ||
    fail "nodes after start: '$nodes' (agents: $(cat "$LOOM_STATE_DIR/agents.log"))"
per_node=$(/usr/bin/python3 -c 'import json,sys
print(min(n["cores"] for n in json.load(open(sys.argv[1]))["nodes"]))' "$TMP/out")
n=$((3 * per_node))
step "3 agents joined, $per_node cores each: tasks of $n slots"

# A task of every core of the 3 hosts is granted each host's whole cpuset: every
# process bound inside it, none sharing a PU, all of it used.
check_bindings () { # LABEL LINES-FILE: lines "HOST RANK PUS"
    checks=$((checks + 1))
    /usr/bin/python3 - "$TMP/nodes" "$2" "$n" <<'PY' || fail "$1: bindings: see above"
import json, sys
def pus(text):
    s = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        s.update(range(int(a), int(b or a) + 1))
    return s
grant = {x["name"]: pus(x["cpuset"]) for x in json.load(open(sys.argv[1]))["nodes"]}
lines = [l.split() for l in open(sys.argv[2]) if l.strip()]
n, bad = int(sys.argv[3]), 0
ranks = sorted(int(r) for _, r, _ in lines)
if ranks != list(range(n)):
    print(f"FAIL: ranks {ranks}, expected 0..{n - 1}", file=sys.stderr); bad = 1
seen = {}
for host, rank, cpus in lines:
    if host not in grant:
        print(f"FAIL: rank {rank} ran on {host}, not a node", file=sys.stderr); bad = 1
        continue
    got = pus(cpus)
    if not got <= grant[host] or got & seen.get(host, set()):
        print(f"FAIL: rank {rank} on {host} bound to {cpus}: outside the grant "
              f"{grant[host]} or shared", file=sys.stderr); bad = 1
    seen[host] = seen.get(host, set()) | got
if sorted(seen) != ["h1", "h2", "h3"] or any(seen[h] != grant[h] for h in seen):
    print(f"FAIL: used {seen}, granted {grant}", file=sys.stderr); bad = 1
print(f"{len(lines)} processes, each on its own PUs of its host's grant {grant}")
sys.exit(bad)
PY
}

# A plain task wider than any node: one process per slot, on every host.
# shellcheck disable=SC2016 # expanded by the task's shell
expect_ok "submit plain -n $n" loom submit --json -n "$n" -- sh -c \
    'echo "$(hostname) $OMPI_COMM_WORLD_RANK $(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status) $LOOM_JOB_ID"'
plain=$(sed -n 's/.*"job": *\([0-9]*\).*/\1/p' "$TMP/out")
expect_ok "plain task completes" timeout 120 loom wait "$plain"
expect_ok "plain task's output" loom logs "$plain"
cp "$TMP/out" "$TMP/plain"
checks=$((checks + 1))
[ "$(awk -v j="$plain" '$4 == j' "$TMP/plain" | wc -l)" -eq "$n" ] ||
    fail "plain task: not $n lines with LOOM_JOB_ID=$plain: $(cat "$TMP/plain")"
awk '{print $1, $2, $3}' "$TMP/plain" >"$TMP/plain3"
check_bindings "plain task" "$TMP/plain3"
step "plain task of $n slots ran on h1..h3, bound as granted"

# An MPI task across the hosts: its ranks wire up over TCP and check their results.
expect_ok "submit --mpi -n $n loom-hello" loom submit --json --mpi -n "$n" -- loom-hello
mpi=$(sed -n 's/.*"job": *\([0-9]*\).*/\1/p' "$TMP/out")
expect_ok "MPI task completes" timeout 120 loom wait "$mpi"
expect_ok "MPI task's log" loom logs "$mpi"
expect_out "hello checked its results" "^hello: $n ranks, allreduce and ring exchange correct$"
sed -n 's/^rank \([0-9]*\) of [0-9]* on \([^,]*\), bound to PUs \(.*\)$/\2 \1 \3/p' \
    "$TMP/out" >"$TMP/mpi"
check_bindings "MPI task" "$TMP/mpi"
expect_ok "logs --rank 1" loom logs --rank 1 "$mpi"
checks=$((checks + 1))
[ "$(grep -c '^rank ' "$TMP/out")" -eq 1 ] && grep -q '^rank 1 of ' "$TMP/out" ||
    fail "logs --rank 1: $(cat "$TMP/out")"
expect_ok "job log says where it ran" loom logs --all "$mpi"
expect_out "started by mpirun" "loomd: task $mpi\.0 started \(attempt 1\): $n ranks by mpirun on h[123]:"
step "MPI task of $n ranks across h1..h3: results and bindings checked"

# Output while the task runs on an agent: on the head well before the task ends.
expect_ok "submit a slow talker" loom submit --json -- \
    sh -c 'echo first-line; sleep 6; echo second-line'
slow=$(sed -n 's/.*"job": *\([0-9]*\).*/\1/p' "$TMP/out")
loom logs --follow "$slow" >"$TMP/follow" 2>&1 &
follower=$!
t0=$EPOCHREALTIME
seen=
for _ in $(seq 1 60); do
    if loom logs "$slow" 2>/dev/null | grep -q first-line; then
        seen=$EPOCHREALTIME
        break
    fi
    sleep 0.05
done
loom logs "$slow" >"$TMP/live" 2>&1
checks=$((checks + 1))
# The first line without the second: it reached the head before the task ended (an
# agent sends the rest, then the end, only when the task is over).
if [ -z "$seen" ]; then
    fail "the running task's first line never reached the head"
elif grep -q second-line "$TMP/live"; then
    fail "first line seen only as the task ended: $(cat "$TMP/live")"
fi
lag=$(awk -v a="$t0" -v b="${seen:-$t0}" 'BEGIN{printf "%.2f", b-a}')
step "first line on the head $lag s after submit, while the task runs (6 s)"
checks=$((checks + 1))
timeout 30 tail --pid=$follower -f /dev/null || fail "loom logs --follow did not return"
wait $follower || fail "loom logs --follow: exit $?: $(cat "$TMP/follow")"
checks=$((checks + 1))
[ "$(cat "$TMP/follow")" = "$(printf 'first-line\nsecond-line')" ] ||
    fail "loom logs --follow printed: $(cat "$TMP/follow")"
step "loom logs --follow printed the task's output and returned at its end"

expect_ok "stop" loom sched stop
for _ in $(seq 1 100); do
    left=$(for h in h1 h2 h3; do netns_pids $h; done | xargs -r ps -o comm= -p | grep -c loomd)
    [ "$left" -eq 0 ] && break
    sleep 0.05
done
checks=$((checks + 1))
[ "$left" -eq 0 ] || fail "$left loomd processes left on the hosts after stop"
netns_stop
step "hosts down"
finish
