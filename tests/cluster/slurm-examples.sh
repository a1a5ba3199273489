#!/bin/bash
# SPDX-License-Identifier: MIT
# The example job scripts of examples/slurm, submitted with sbatch to a 4-node Slurm
# cluster as a user would: each checks its own answers and must end COMPLETED.
#   wordcount-pagerank.sbatch  loom run wordcount / pagerank across 4 nodes
#   pagerank-engines.sbatch    mpirun and srun --mpi=pmix loom-pagerank, same ranks
#   launch.sbatch              loom launch in the allocation, bindings as planned
#   loomd-agents.sbatch        loomd with an agent on every node (srun), a task array
#                              on all 4 nodes, every result checked
. "$(dirname "$0")/lib.sh"
cluster_require mpirun loom loomd loom-hello loom-wordcount loom-pagerank loom-gen sbatch
examples=$LOOM_SOURCE_DIR/examples/slurm

slurm_start 4
step "slurm up: $LOOM_SLURM"
export LOOM_EXAMPLE_SCALE=10 # small graphs: this is a 2-core machine

for ex in wordcount-pagerank pagerank-engines launch loomd-agents; do
    # One rank per node for the srun-heavy scripts (they ask for 2): on this loaded
    # 2-core machine fewer ranks starting at once hit Open MPI's connect race (see
    # slurm-up) less often. launch.sbatch keeps 2 per node: it checks core bindings.
    per_node=()
    [ $ex = launch ] || per_node=(--ntasks-per-node=1)
    sbatch_wait "sbatch $ex.sbatch" COMPLETED -t 3 --chdir="$TMP" "${per_node[@]}" \
        "$examples/$ex.sbatch"
    step "$ex.sbatch: job $jobid $jobstate"
    out=$TMP/job-$jobid.out
    case $ex in
    wordcount-pagerank)
        grep -q '^ok: wordcount: .* same on 1 rank$' "$out" || fail "$ex: no wordcount check"
        grep -q '^ok: pagerank: .* same on 1 rank$' "$out" || fail "$ex: no pagerank check"
        ;;
    pagerank-engines)
        grep -q '^ok: loom run, mpirun and srun --mpi=pmix: identical ranks' "$out" ||
            fail "$ex: no comparison line"
        ;;
    launch)
        grep -q '^ok: loom launch: 8 ranks bound as planned on n1 n2 n3 n4 $' "$out" ||
            fail "$ex: no binding check"
        ;;
    loomd-agents)
        grep -q '^ok: loomd: 40 tasks checked, on every node: n1 n2 n3 n4 $' "$out" ||
            fail "$ex: no check line: $(tail -n 5 "$out")"
        ;;
    esac
    checks=$((checks + 1))
done
# The jobs clean up their working directories when they succeed.
checks=$((checks + 1))
left=$(find "$TMP" -maxdepth 1 -name 'loom-*-[0-9]*' | head -3)
[ -z "$left" ] || fail "job directories left: $left"

slurm_stop
step "slurm down (known Open MPI connect races retried: $races)"
finish
