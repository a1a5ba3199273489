#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-bench-wordcount [REPS] [SIZE]: Loom wordcount against MR-MPI (np 2) and the
# single-threaded C hash-table count (the COST baseline), side by side on the same
# Zipf(1.0) corpus of 100k words, REPS rounds (default 3), SIZE bytes (default 1G).
# Every program's counts are checked equal in the first round. Prints one JSON line
# per round, then the medians of the per-round ratios.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/mr-bench-common.sh"
reps=${1:-3}
size=${2:-1G}
corpus=$dir/corpus-$size.txt
[ -f "$corpus" ] || loom-mr-corpus --bytes "$size" --seed 1 --output "$corpus"
cat "$corpus" >/dev/null # page cache warm for everyone
have_mrmpi=0
# LOOM_BENCH_SKIP_MRMPI=1 leaves MR-MPI out (it takes minutes on a loaded machine).
command -v loom-peer-mrmpi-wordcount >/dev/null && [ -z "${LOOM_BENCH_SKIP_MRMPI:-}" ] && have_mrmpi=1
r_mr=() r_cost2=() r_cost1=()
for rep in $(seq 1 "$reps"); do
    rm -f "$dir"/mrmpi.out.* "$dir"/loom2.txt "$dir"/loom1.txt
    t_mr=0
    if [ $have_mrmpi = 1 ]; then
        t_mr=$(timed "$dir/mrmpi.json" mpirun -q -np 2 loom-peer-mrmpi-wordcount \
            --output "$dir/mrmpi.out" "$corpus")
    fi
    t_l2=$(timed "$dir/loom2.json" mpirun -q -np 2 loom-wordcount "$corpus" \
        --output "$dir/loom2.txt" --text -q --stats)
    t_l1=$(timed "$dir/loom1.json" mpirun -q -np 1 loom-wordcount "$corpus" \
        --output "$dir/loom1.txt" --text -q --stats)
    t_c=$(timed "$dir/cost.json" loom-peer-wc "$corpus" --output "$dir/cost.txt")
    if [ "$rep" = 1 ]; then
        LC_ALL=C sort "$dir/cost.txt" >"$dir/cost.sorted"
        LC_ALL=C sort "$dir/loom2.txt" | cmp -s - "$dir/cost.sorted" || { echo "wordcount: Loom np2 counts differ from the C baseline" >&2; exit 1; }
        LC_ALL=C sort "$dir/loom1.txt" | cmp -s - "$dir/cost.sorted" || { echo "wordcount: Loom np1 counts differ" >&2; exit 1; }
        if [ $have_mrmpi = 1 ]; then
            cat "$dir"/mrmpi.out.* | LC_ALL=C sort | cmp -s - "$dir/cost.sorted" || { echo "wordcount: MR-MPI counts differ" >&2; exit 1; }
        fi
        echo "{\"check\":\"counts equal\",\"distinct\":$(wc -l <"$dir/cost.sorted"),\"programs\":\"loom np2, loom np1, C baseline$([ $have_mrmpi = 1 ] && echo ', MR-MPI np2')\"}"
    fi
    [ $have_mrmpi = 1 ] && r_mr+=("$(ratio "$t_mr" "$t_l2")")
    r_cost2+=("$(ratio "$t_c" "$t_l2")")
    r_cost1+=("$(ratio "$t_l1" "$t_c")")
    echo "{\"round\":$rep,\"bytes\":$(stat -c %s "$corpus"),\"mrmpi_np2_sec\":$t_mr,\"loom_np2_sec\":$t_l2,\"loom_np1_sec\":$t_l1,\"c_baseline_sec\":$t_c,\"loom_job_np2\":$(cat "$dir/loom2.json"),\"mrmpi_job\":$([ $have_mrmpi = 1 ] && cat "$dir/mrmpi.json" || echo null),\"c_job\":$(cat "$dir/cost.json")}"
done
echo "{\"summary\":\"wordcount\",\"rounds\":$reps,\"median_mrmpi_over_loom_np2\":$([ $have_mrmpi = 1 ] && median "${r_mr[@]}" || echo null),\"median_c_over_loom_np2\":$(median "${r_cost2[@]}"),\"median_loom_np1_over_c\":$(median "${r_cost1[@]}")}"
