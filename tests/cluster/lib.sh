# SPDX-License-Identifier: MIT
# Helpers for cluster tests. Source it first; it brings tests/system/lib.sh (run,
# expect_ok, expect_out, fail, finish) and common.sh. Whatever a test starts through
# netns_start/slurm_start is torn down when the script exits, for any reason; the
# explicit netns_stop/slurm_stop also fail the test when something was left behind.
CLUSTER_BIN=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$CLUSTER_BIN/../system/lib.sh"
. "$CLUSTER_BIN/common.sh"
export PATH="$CLUSTER_BIN:$PATH"

# Exit status that ctest reports as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt).
CLUSTER_SKIP=77
# Cleanups to run at exit, in reverse order of registration.
_cluster_cleanups=()

_cluster_exit () {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#_cluster_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_cluster_cleanups[i]}" || true
    done
    rm -rf "$TMP"
    exit $rc
}
trap _cluster_exit EXIT
trap 'echo "cluster test: interrupted" >&2; exit 130' INT TERM

# cluster_require: skip (exit 77) when the machine lacks the privileges for
# namespaces; fail when the privileges are there but the software is missing.
cluster_require () {
    local why prog
    if ! why=$(cl_can_namespace 2>&1); then
        echo "SKIP: cluster tests: $why"
        exit $CLUSTER_SKIP
    fi
    for prog in "$@"; do
        if ! command -v "$prog" >/dev/null; then
            echo "FAIL: '$prog' is not installed (run scripts/install-deps)" >&2
            exit 1
        fi
    done
}

# step NAME: print a timestamped progress line (the log shows where time goes).
_cluster_t0=$EPOCHREALTIME
step () {
    awk -v a="$_cluster_t0" -v b="$EPOCHREALTIME" -v n="$*" 'BEGIN{printf "[%6.2f s] %s\n", b-a, n}'
}

# ---------------------------------------------------------------- netns hosts
# netns_start N: hosts h1..hN; sets LOOM_NETNS.
netns_start () {
    local out
    out=$(netns-up --owner $$ "$1") || {
        local rc=$?
        [ $rc -eq $CLUSTER_SKIP ] && exit $CLUSTER_SKIP
        echo "FAIL: netns-up $1 failed ($rc)" >&2
        exit 1
    }
    eval "$out"
    _cluster_cleanups+=("[ -n \"\${LOOM_NETNS:-}\" ] && netns-down --quiet \"\$LOOM_NETNS\"")
}

# netns_stop: tear down, failing the test if processes or files were left behind.
netns_stop () {
    checks=$((checks + 1))
    netns-down "$LOOM_NETNS" || fail "netns-down: things were left behind (see above)"
    LOOM_NETNS=
}

# on HOST CMDLINE: run a shell command line on an emulated host, at most 120 s.
on () {
    local host=$1
    shift
    timeout -k 5 120 nsrsh "$host" "$*"
}

# Open MPI across the emulated hosts: mpirun started on h1, remote daemons through
# nsrsh. Usage: mpirun_hosts -np 6 --host h1:2,h2:2,h3:2 PROG ARGS...
mpirun_hosts () {
    on h1 mpirun --mca plm_rsh_agent "$CLUSTER_BIN/nsrsh" "$@"
}

# bridge_bytes HOST: bytes through HOST's port on the switch so far (rx + tx), to
# show that traffic really crossed between hosts.
bridge_bytes () {
    local prefix i=${1#h}
    prefix=$(sed -n 's/^prefix=//p' "$LOOM_NETNS/state")
    nsenter --net="/run/netns/$prefix-sw" cat /proc/net/dev |
        awk -v p="v$i:" '$1 == p {print $2 + $10}'
}
