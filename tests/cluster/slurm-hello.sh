#!/bin/bash
# SPDX-License-Identifier: MIT
# A real Slurm cluster (munged, slurmctld, 4 slurmd in their own namespaces) running
# Loom's MPI hello through srun --mpi=pmix and through the example job script
# (loom run, srun and mpirun inside sbatch); a failing job is seen as failed, a
# cancelled one leaves nothing running; teardown must find nothing left behind.
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loom-hello slurmctld slurmd munged sbatch
examples=$LOOM_SOURCE_DIR/examples/slurm

slurm_start 4
step "slurm up: $LOOM_SLURM"

expect_ok "sinfo" sl sinfo -h -N -t idle -o %N
expect_out "4 idle nodes" '^n4$'
[ "$(wc -l <"$TMP/out")" -eq 4 ] || fail "sinfo: $(wc -l <"$TMP/out") idle nodes, expected 4"

# Each emulated node is its own host: own name, own /dev/shm.
expect_ok "srun hostname on 4 nodes" sl srun -N4 -n4 hostname
[ "$(sort "$TMP/out" | tr '\n' ' ')" = "n1 n2 n3 n4 " ] ||
    fail "hostnames of the nodes: $(tr '\n' ' ' <"$TMP/out")"
expect_ok "srun --mpi=list" sl srun --mpi=list
grep -qw pmix "$TMP/out" "$TMP/err" || fail "srun --mpi=list does not offer pmix"

expect_ok_mpi "srun --mpi=pmix loom-hello, 8 ranks on 4 nodes" \
    sl srun --mpi=pmix -N4 -n8 loom-hello
expect_out "srun hello correct" '^hello: 8 ranks, allreduce and ring exchange correct$'
for n in 1 2 3 4; do
    [ "$(grep -c "^rank [0-9] of 8 on n$n," "$TMP/out")" -eq 2 ] ||
        fail "srun: node n$n does not run 2 ranks: $(grep -c "on n$n," "$TMP/out")"
done
step "srun --mpi=pmix done"

# The example job script checks itself: loom run, srun and mpirun inside sbatch.
# One rank per node here (the script asks for 2): on this 2-core machine, under load,
# fewer ranks starting at once hit Open MPI's connect race (see slurm-up) less often.
sbatch_wait "sbatch examples/slurm/hello.sbatch" COMPLETED -t 1 --ntasks-per-node=1 \
    "$examples/hello.sbatch"
step "hello.sbatch: job $jobid $jobstate"
for how in "loom run hello" "srun --mpi=pmix loom-hello" "mpirun loom-hello"; do
    checks=$((checks + 1))
    grep -qx "ok: $how: 4 ranks, 1 on each of 4 nodes" "$TMP/job-$jobid.out" ||
        fail "hello.sbatch did not report '$how'"
done

# A job whose command fails ends FAILED with its exit code, rather than "passing".
sbatch_wait "failing job" FAILED -N2 --wrap "loom run nosuchapp -n 2"
[ "$jobexit" = "1:0" ] || fail "failing job: exit code $jobexit, expected 1:0"
grep -q "loom: run: no app 'nosuchapp'" "$TMP/job-$jobid.out" ||
    fail "failing job: error line missing from its output"

# scancel of a running job: it ends CANCELLED and its processes are gone (slurm-down
# checks that nothing but the daemons is left running).
jobid=$(sl sbatch --parsable -N1 -o /dev/null --wrap "sleep 600")
for _ in $(seq 1 100); do
    sl squeue -h -j "$jobid" -t R | grep -q . && break
    sleep 0.1
done
expect_ok "scancel running job" sl scancel "$jobid"
waitjob "$jobid" 20
checks=$((checks + 1))
[ "$jobstate" = CANCELLED ] || fail "cancelled job ended $jobstate"
step "failure and cancel checked"

slurm_stop
step "slurm down (known Open MPI connect races retried: $races)"
finish
