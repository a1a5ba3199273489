#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-bench-trace-overhead [PAIRS]: what tracing costs whole jobs (issue 10 target:
# <= 3% wall time). Wordcount (21 MB Zipf corpus) and PageRank (R-MAT scale 17, 10
# supersteps) at np=2 under mpirun, each run with tracing off and with LOOM_TRACE on,
# the same binaries and inputs in the same run, PAIRS pairs (default 7) in ABBA order
# (off,on then on,off, alternating) so a drift in the machine's load hits both sides
# alike. Prints one JSON line per run, then per job the medians of off and on, the
# median of the per-pair on/off ratios (the number to compare with 3%), and the time
# `loom trace merge` takes for the traced run's files. Every traced run must leave
# each rank's file, so a run that did not trace cannot pass for a cheap one.
set -euo pipefail
bin=$(dirname "$(readlink -f "$0")")
export PATH="$bin:$PATH"
pairs=${1:-7}
dir=${LOOM_BENCH_DIR:-/tmp/loom-bench-trace}
mkdir -p "$dir"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PMIX_MCA_gds=hash
unset LOOM_TRACE LOOM_TRACE_RING LOOM_TRACE_ID
PY=/usr/bin/python3

corpus=$dir/corpus-21M.txt
graph=$dir/rmat17.h5
[ -f "$corpus" ] || loom-mr-corpus --bytes 21M --seed 1 --output "$corpus"
[ -e "$graph" ] || loom gen rmat --scale 17 --output "$graph" -n 2 --quiet
cat "$corpus" >/dev/null # page cache warm for both sides

now () { date +%s.%N; }

# run_job JOB MODE: one run; prints its wall time in seconds.
run_job () {
    local job=$1 mode=$2 prefix=$dir/trace-$1 t0 t1
    rm -rf "$prefix".rank* "$prefix".proc* "$prefix".trace "$dir/$job.out"
    local -a envv=(env)
    [ "$mode" = on ] && envv=(env LOOM_TRACE="$prefix")
    t0=$(now)
    case $job in
    wordcount)
        "${envv[@]}" mpirun -q -np 2 loom-wordcount "$corpus" --output "$dir/$job.out" --quiet >/dev/null ;;
    pagerank)
        "${envv[@]}" mpirun -q -np 2 loom-pagerank --input "$graph" --output "$dir/$job.out" \
            --iterations 10 --quiet >/dev/null ;;
    esac
    t1=$(now)
    if [ "$mode" = on ]; then
        [ -s "$prefix.rank0" ] && [ -s "$prefix.rank1" ] \
            || { echo "trace-overhead: $job with LOOM_TRACE left no rank files" >&2; exit 1; }
    fi
    echo "$t1 - $t0" | bc
}

for job in wordcount pagerank; do
    offs=() ons=() ratios=()
    for p in $(seq 1 "$pairs"); do
        if [ $((p % 2)) = 1 ]; then order="off on"; else order="on off"; fi
        for mode in $order; do
            t=$(run_job "$job" "$mode")
            echo "{\"job\":\"$job\",\"pair\":$p,\"tracing\":\"$mode\",\"wall_sec\":$t}"
            if [ "$mode" = off ]; then off=$t; else on=$t; fi
        done
        offs+=("$off")
        ons+=("$on")
        ratios+=("$(echo "scale=6; $on / $off" | bc)")
    done
    # The last traced run's files: events per rank and what merging them costs.
    prefix=$dir/trace-$job
    run_job "$job" on >/dev/null
    t0=$(now)
    loom trace merge "$prefix" >/dev/null
    t1=$(now)
    events=$(loom trace info "$prefix.trace" | awk '$1 == "rank" { for (i = 1; i < NF; i++) if ($(i + 1) == "events") { s += $i; n++ } } END { printf "%d", n ? s / n : 0 }')
    $PY - "$job" "$pairs" "$events" "$(echo "$t1 - $t0" | bc)" "${offs[*]}" "${ons[*]}" "${ratios[*]}" <<'PYEOF'
import json, statistics, sys
job, pairs, events, merge = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
off, on, r = ([float(x) for x in a.split()] for a in sys.argv[5:8])
m = statistics.median(r)
print(json.dumps({"summary": job, "pairs": pairs, "order": "ABBA",
                  "off_median_sec": round(statistics.median(off), 3),
                  "on_median_sec": round(statistics.median(on), 3),
                  "median_on_over_off": round(m, 4),
                  "overhead_pct": round((m - 1) * 100, 2),
                  "ratio_min": round(min(r), 4), "ratio_max": round(max(r), 4),
                  "off_range_sec": [round(min(off), 3), round(max(off), 3)],
                  "events_per_rank": events, "merge_sec": round(merge, 3),
                  "target_met": m <= 1.03}))
PYEOF
done
