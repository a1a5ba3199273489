#!/bin/bash
# SPDX-License-Identifier: MIT
# `loom launch` across emulated hosts (network namespaces h1, h2 from tests/cluster):
# the placement is computed by loom and handed to mpirun as a rankfile, and every
# rank must report the binding the plan gave it, on the host the plan named.
# Skips (77) without root; tears the hosts down even when a check fails.
. "$LOOM_SOURCE_DIR/tests/cluster/lib.sh"
cluster_require mpirun loom loom-hello

netns_start 2
step "hosts up: $LOOM_NETNS"
agent=$(command -v nsrsh)
cores=$(loom topo --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["allowed_cores"])')
[ "$cores" -ge 2 ] || { echo "SKIP: needs 2 cores"; exit 77; }

# Plan (--report-bindings, stderr) vs what each rank reports (stdout): same host and
# same PUs, rank by rank.
check_plan () {
    local n=$1 r host pus got
    for r in $(seq 0 $((n - 1))); do
        read -r host pus < <(sed -n "s/^rank $r on \([^:]*\): PUs \([^ ]*\) .*/\1 \2/p" "$TMP/err")
        got=$(sed -n "s/^rank $r of $n on \(.*\)$/\1/p" "$TMP/out")
        [ "$got" = "$host, bound to PUs $pus" ] ||
            fail "rank $r: plan '$host $pus', rank says '$got'"
    done
}

# Default mapping fills h1's cores, then h2's.
expect_ok "4 ranks on h1:2,h2:2" on h1 loom launch -n 4 --host h1:2,h2:2 \
    --rsh-agent "$agent" --report-bindings loom-hello
expect_out "hello across hosts" '^hello: 4 ranks, allreduce and ring exchange correct$'
expect_out "rank 2 on h2" '^rank 2 of 4 on h2, bound to PUs 0$'
check_plan 4
step "map-by slot done"

# map-by node alternates hosts; bindings follow the plan.
expect_ok "map-by node" on h1 loom launch -n 4 --host h1,h2 --map-by node \
    --rsh-agent "$agent" --report-bindings loom-hello
expect_out "rank 1 on h2" '^rank 1 of 4 on h2, bound to PUs 0$'
expect_out "rank 2 on h1" '^rank 2 of 4 on h1, bound to PUs 1$'
check_plan 4

# A cpuset applies on every host: both ranks on PU 1 of their host.
expect_ok "cpuset on every host" on h1 loom launch -n 2 --host h1,h2 --map-by node \
    --cpuset 1 --rsh-agent "$agent" --report-bindings loom-hello
expect_out "rank 0 on PU 1 of h1" '^rank 0 of 2 on h1, bound to PUs 1$'
expect_out "rank 1 on PU 1 of h2" '^rank 1 of 2 on h2, bound to PUs 1$'
check_plan 2
step "map-by node and cpuset done"

# MPI_Abort on a remote rank: mpirun's exit status comes back through loom.
run on h1 loom launch -n 2 --host h1,h2 --map-by node --rsh-agent "$agent" \
    loom-hello --quiet --abort 1
[ "$status" -eq 7 ] || fail "remote MPI_Abort(7): exit $status, expected 7"

# A host that cannot be reached: one line, before mpirun is even started.
expect_error "unreachable host" "^loom: launch: cannot reach host 'h9' with " \
    on h1 loom launch -n 2 --host h1,h9 --map-by node --rsh-agent "$agent" loom-hello

netns_stop
step "hosts down"
finish
