# SPDX-License-Identifier: MIT
# Helpers for cluster tests. Source it first; it brings tests/system/lib.sh (run,
# expect_ok, expect_out, fail, finish) and common.sh. Whatever a test starts through
# netns_start/slurm_start is torn down when the script exits, for any reason; the
# explicit netns_stop/slurm_stop also fail the test when something was left behind.
CLUSTER_BIN=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$CLUSTER_BIN/../system/lib.sh"
. "$CLUSTER_BIN/common.sh"
# The test's files must be seen by every emulated node, whose /tmp is node-local:
# keep them on the shared /var/tmp (like a site's scratch file system).
rmdir "$TMP"
TMP=$(mktemp -d /var/tmp/loom-cluster-test.XXXXXX)
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

# netns_kill_host HOST: kill every process of an emulated host at once (node failure).
netns_kill_host () {
    local prefix
    prefix=$(sed -n 's/^prefix=//p' "$LOOM_NETNS/state")
    touch "$LOOM_NETNS/$1.killed"
    # shellcheck disable=SC2046 # one PID per word
    kill -KILL $(ip netns pids "$prefix-$1") 2>/dev/null
}

# netns_pids HOST: the processes running on an emulated host.
netns_pids () {
    ip netns pids "$(sed -n 's/^prefix=//p' "$LOOM_NETNS/state")-$1"
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

# ---------------------------------------------------------------- Slurm
# slurm_start N: a Slurm cluster of N emulated nodes; sets LOOM_SLURM. slurm-up
# runs as our child (--no-detach) so its supervisor is reaped, never a zombie.
slurm_start () {
    local ready=$TMP/slurm-ready
    rm -f "$ready"
    slurm-up --no-detach --owner $$ --ready-file "$ready" "$1" >"$TMP/slurm-up.log" 2>&1 &
    _cluster_slurm_up=$!
    for _ in $(seq 1 600); do
        [ -s "$ready" ] && break
        cl_alive "$_cluster_slurm_up" || break
        sleep 0.05
    done
    if ! grep -q '^export LOOM_SLURM=' "$ready" 2>/dev/null; then
        echo "FAIL: slurm-up $1 failed:" >&2
        cat "$TMP/slurm-up.log" >&2
        exit 1
    fi
    eval "$(cat "$ready")"
    _cluster_cleanups+=("[ -n \"\${LOOM_SLURM:-}\" ] && slurm-down --quiet \"\$LOOM_SLURM\"; wait $_cluster_slurm_up")
}

# slurm_stop: stop the cluster, failing the test if anything was left behind.
slurm_stop () {
    checks=$((checks + 1))
    slurm-down "$LOOM_SLURM" || fail "slurm-down: things were left behind (see above)"
    LOOM_SLURM=
    wait "$_cluster_slurm_up"
}

# slurm_kill_node NAME: kill every process of an emulated node at once (its PID
# namespace: slurmd, slurmstepd, job processes), as a node crash would. The init of
# the node is the child of the recorded unshare, which took PR_SET_PDEATHSIG.
slurm_kill_node () {
    touch "$LOOM_SLURM/run/node-$1.killed"
    kill -KILL "$(cat "$LOOM_SLURM/run/node-$1.pid")"
}

# sl CMD...: a Slurm client command (or any command) against our cluster, <= 120 s.
sl () {
    timeout -k 5 120 slurm-exec "$@"
}

# waitjob JOBID [SECONDS]: wait until the job left the queue (default at most 60 s);
# sets $jobstate (COMPLETED, FAILED, CANCELLED, ...) and $jobexit ("0:0").
waitjob () {
    local i
    for ((i = 0; i < ${2:-60} * 5; i++)); do
        sl squeue -h -j "$1" 2>/dev/null | grep -q . || break
        sleep 0.2
    done
    local info
    info=$(sl scontrol show job "$1" 2>/dev/null)
    jobstate=$(echo "$info" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    jobexit=$(echo "$info" | sed -n 's/.* ExitCode=\([0-9:]*\).*/\1/p')
}

# sbatch_wait DESC STATE SBATCH-ARGS...: submit, wait, and check the final state
# (e.g. COMPLETED); the job's output is in $TMP/job-<id>.out, its id in $jobid.
sbatch_wait () {
    local desc=$1 want=$2
    shift 2
    checks=$((checks + 1))
    local try
    for try in 1 2 3; do
        jobid=$(sl sbatch --parsable -o "$TMP/job-%j.out" "$@") || {
            fail "$desc: sbatch failed"
            return
        }
        waitjob "$jobid" 120
        [ "$jobstate" != "$want" ] && [ $try -lt 3 ] &&
            grep -q "$OMPI_CONNECT_RACE" "$TMP/job-$jobid.out" 2>/dev/null || break
        races=$((races + 1))
        echo "NOTE: $desc: job $jobid hit the known Open MPI btl/tcp connect race; again"
        rm -rf "$TMP"/loom-*-"$jobid" # the example's working directory, kept on failure
    done
    if [ "$jobstate" != "$want" ]; then
        fail "$desc: job $jobid ended $jobstate (exit $jobexit), expected $want; output:
$(tail -n 20 "$TMP/job-$jobid.out" 2>/dev/null)"
    fi
}

# Open MPI 4.1.4's btl/tcp sometimes fails a connect during MPI_Init when ranks start
# through srun on this loaded machine, then crashes calling a NULL error callback
# (see slurm-up). Only a run that failed with exactly this message is retried, at most
# twice; every retry is printed and counted in $races.
OMPI_CONNECT_RACE='Open MPI failed to TCP connect to a peer MPI process'
races=0

# expect_ok_mpi DESC CMD...: expect_ok, retrying on the known connect race.
expect_ok_mpi () {
    local desc=$1
    shift
    local try
    for try in 1 2 3; do
        run "$@"
        [ "$status" -ne 0 ] && [ $try -lt 3 ] &&
            grep -q "$OMPI_CONNECT_RACE" "$TMP/out" "$TMP/err" || break
        races=$((races + 1))
        echo "NOTE: $desc: hit the known Open MPI btl/tcp connect race; again"
    done
    [ "$status" -eq 0 ] || fail "$desc: exit $status, stderr: $(tail -c 600 "$TMP/err")"
}
