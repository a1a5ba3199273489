# SPDX-License-Identifier: MIT
# Shared by the MapReduce benchmark scripts: paths, MPI environment, timing, medians.
bin=$(dirname "$(readlink -f "$0")")
export PATH="$bin:$PATH"
dir=${LOOM_BENCH_DIR:-/tmp/loom-bench-mr}
mkdir -p "$dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PMIX_MCA_gds=hash
PY=/usr/bin/python3

# timed OUT CMD...: run CMD, stdout to OUT, and print its wall time in seconds.
timed () {
    local out=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    "$@" >"$out"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

# median V...: the median of the numbers.
median () {
    printf '%s\n' "$@" | $PY -c 'import sys,statistics; print("%.3f" % statistics.median(float(x) for x in sys.stdin))'
}

ratio () {
    echo "scale=3; $1 / $2" | bc
}
