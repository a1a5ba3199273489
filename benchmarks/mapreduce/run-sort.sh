#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-bench-sort [REPS] [SIZE]: Loom sort at np 2 against `LC_ALL=C sort
# --parallel=2 -S 40%` on the same TeraSort records (loom gen sort), side by side,
# REPS rounds (default 3) of SIZE (default 1G). The first round's output passes
# loom sort-validate and equals GNU sort's byte for byte.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/mr-bench-common.sh"
reps=${1:-3}
size=${2:-1G}
mem=${LOOM_BENCH_SORT_MEM:-4G}
recs=$dir/sort-$size.txt
[ -f "$recs" ] || loom gen sort --bytes "$size" --seed 7 --output "$recs" -n 2 -q
cat "$recs" >/dev/null
r=()
for rep in $(seq 1 "$reps"); do
    rm -f "$dir/loom-sorted" "$dir/gnu-sorted"
    t_l=$(timed "$dir/sort.json" mpirun -q -np 2 loom-sort "$recs" --output "$dir/loom-sorted" \
        --text -q --stats --mem "$mem")
    t_g=$(timed /dev/null env LC_ALL=C sort --parallel=2 -S 40% "$recs" -o "$dir/gnu-sorted")
    if [ "$rep" = 1 ]; then
        mpirun -q -np 2 loom-sort-validate "$dir/loom-sorted" --input "$recs" >"$dir/validate.txt"
        cmp -s "$dir/loom-sorted" "$dir/gnu-sorted" || { echo "sort: Loom output differs from GNU sort" >&2; exit 1; }
        echo "{\"check\":\"$(cat "$dir/validate.txt"); identical to GNU sort\"}"
    fi
    r+=("$(ratio "$t_g" "$t_l")")
    echo "{\"round\":$rep,\"bytes\":$(stat -c %s "$recs"),\"loom_np2_sec\":$t_l,\"gnu_sort_parallel2_sec\":$t_g,\"loom_job\":$(cat "$dir/sort.json")}"
done
echo "{\"summary\":\"sort\",\"rounds\":$reps,\"loom_mem\":\"$mem\",\"median_gnu_over_loom_np2\":$(median "${r[@]}")}"
