#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-bench-mr-mem [REPS] [SIZE]: wordcount and sort at np 2 with --mem = SIZE/8
# against the default budget, side by side: same answers, peak RSS of every rank
# (must stay within the budget + 64 MiB), and the slowdown (median of ratios).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/mr-bench-common.sh"
reps=${1:-3}
size=${2:-1G}
corpus=$dir/corpus-$size.txt
recs=$dir/sort-$size.txt
[ -f "$corpus" ] || loom-mr-corpus --bytes "$size" --seed 1 --output "$corpus"
[ -f "$recs" ] || loom gen sort --bytes "$size" --seed 7 --output "$recs" -n 2 -q
bytes=$(stat -c %s "$corpus")
budget=$((bytes / 8))
limit_kb=$(((budget + (64 << 20)) / 1024))
w=() s=()
for rep in $(seq 1 "$reps"); do
    rm -f "$dir"/wc-*.txt "$dir"/sort-*.out
    t_wd=$(timed /dev/null mpirun -q -np 2 loom-wordcount "$corpus" --output "$dir/wc-def.txt" --text -q)
    t_wm=$(timed /dev/null mpirun -q -np 2 sh -c "/usr/bin/time -o $dir/wc-rss.\$OMPI_COMM_WORLD_RANK -f 'maxrss_kb=%M' loom-wordcount $corpus --output $dir/wc-mem.txt --text -q --mem $budget")
    t_sd=$(timed /dev/null mpirun -q -np 2 loom-sort "$recs" --output "$dir/sort-def.out" --text -q --mem 4G)
    t_sm=$(timed "$dir/sortmem.json" mpirun -q -np 2 sh -c "/usr/bin/time -o $dir/sort-rss.\$OMPI_COMM_WORLD_RANK -f 'maxrss_kb=%M' loom-sort $recs --output $dir/sort-mem.out --text -q --stats --mem $budget")
    cmp -s "$dir/wc-def.txt" "$dir/wc-mem.txt" || { echo "mem: wordcount answers differ" >&2; exit 1; }
    cmp -s "$dir/sort-def.out" "$dir/sort-mem.out" || { echo "mem: sort answers differ" >&2; exit 1; }
    wr=$(cat "$dir"/wc-rss.* | cut -d= -f2 | sort -n | tail -1)
    sr=$(cat "$dir"/sort-rss.* | cut -d= -f2 | sort -n | tail -1)
    w+=("$(ratio "$t_wm" "$t_wd")")
    s+=("$(ratio "$t_sm" "$t_sd")")
    echo "{\"round\":$rep,\"bytes\":$bytes,\"mem\":$budget,\"rss_limit_kb\":$limit_kb,\"wordcount_default_sec\":$t_wd,\"wordcount_mem_sec\":$t_wm,\"wordcount_max_rank_rss_kb\":$wr,\"sort_default_sec\":$t_sd,\"sort_mem_sec\":$t_sm,\"sort_max_rank_rss_kb\":$sr,\"sort_job\":$(cat "$dir/sortmem.json"),\"answers\":\"identical\"}"
    rm -f "$dir"/wc-rss.* "$dir"/sort-rss.*
done
echo "{\"summary\":\"memory\",\"rounds\":$reps,\"mem\":$budget,\"median_wordcount_slowdown\":$(median "${w[@]}"),\"median_sort_slowdown\":$(median "${s[@]}")}"
