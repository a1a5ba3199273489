#!/bin/bash
# SPDX-License-Identifier: MIT
# MPI across three emulated hosts (network namespaces h1..h3 on a bridge): Open MPI
# starts remote daemons through nsrsh and ranks talk TCP over the bridge. The
# negative check proves the traffic crossed hosts: without the TCP transport the
# ranks on different hosts cannot reach each other.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom-hello

netns_start 3
step "hosts up: $LOOM_NETNS"

# The hosts are separate: their own names and addresses, reachable over the bridge.
expect_ok "hostname of h2" on h2 hostname
expect_out "h2 is named h2" '^h2$'
expect_ok "h3 has 10.77.0.3" on h3 ip -4 -br addr show eth0
expect_out "address of h3" '10\.77\.0\.3/24'
expect_error "unknown host" "nsrsh: h9: no such host" nsrsh h9 true

before=$(($(bridge_bytes h2) + $(bridge_bytes h3)))
expect_ok "mpirun -np 6 over h1:2,h2:2,h3:2" \
    mpirun_hosts -np 6 --host h1:2,h2:2,h3:2 loom-hello
step "6 ranks on 3 hosts done"
for r in 0 1; do expect_out "rank $r on h1" "^rank $r of 6 on h1,"; done
for r in 2 3; do expect_out "rank $r on h2" "^rank $r of 6 on h2,"; done
for r in 4 5; do expect_out "rank $r on h3" "^rank $r of 6 on h3,"; done
expect_out "hello checked its results" '^hello: 6 ranks, allreduce and ring exchange correct$'
after=$(($(bridge_bytes h2) + $(bridge_bytes h3)))
checks=$((checks + 1))
# Daemon wire-up plus the Allreduce/ring/barriers: at least a few KB must have gone
# through the switch ports of h2 and h3.
[ $((after - before)) -gt 4096 ] ||
    fail "only $((after - before)) bytes crossed the bridge to h2/h3"
echo "bytes through the bridge ports of h2+h3: $((after - before))"

expect_ok "btl tcp,self only" \
    mpirun_hosts --mca btl tcp,self -np 3 --host h1,h2,h3 loom-hello --quiet
expect_out "tcp-only run correct" '^hello: 3 ranks'

# Negative: shared memory (vader) cannot connect separate hosts.
run mpirun_hosts --mca btl self,vader -np 4 --host h1:2,h2:2 loom-hello --quiet
[ "$status" -ne 0 ] || fail "btl self,vader across hosts succeeded (exit 0)"
grep -qE 'unreachable|BTLs attempted: (vader self|self vader)' "$TMP/out" "$TMP/err" ||
    fail "btl self,vader failure is not 'unreachable': $(tail -c 400 "$TMP/err")"
step "negative btl self,vader failed as expected (exit $status)"

# A rank that cannot be started (missing program) fails fast, not hangs.
run mpirun_hosts -np 2 --host h2,h3 /nonexistent/loom-nothing
[ "$status" -ne 0 ] || fail "mpirun of a missing program on h2,h3 succeeded"

netns_stop
step "hosts down"
finish
