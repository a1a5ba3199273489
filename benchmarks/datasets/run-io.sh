#!/bin/bash
# SPDX-License-Identifier: MIT
# run-io.sh [REPEATS] [DIR]: issue 4's bandwidth comparison at np=2, 2 GiB in 8
# partitions, REPEATS side-by-side repeats (default 5), files under DIR (default /tmp):
#   1. page cache: no fsync on either side, reads from the page cache;
#   2. fsync'd: both sides fsync every file and the directory, and the page cache is
#      dropped before every read (so both read from the disk; needs root).
# Prints loom-bench-datasets' JSON: one line per repeat, then a summary line per mode
# with the medians of the per-repeat ratios (Loom bandwidth / raw bandwidth).
# The binary comes from $LOOM_BUILD_DIR/bin (default: build/ of this checkout).
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
build=${LOOM_BUILD_DIR:-$root/build}
bench=$build/bin/loom-bench-datasets
reps=${1:-5}
dir=${2:-/tmp}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "{\"date\":\"$(date -u +%FT%TZ)\",\"commit\":\"$(git -C "$root" rev-parse --short HEAD)\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
mpirun -np 2 "$bench" --bytes-gib 2 --parts 8 --repeat "$reps" --dir "$dir"
mpirun -np 2 "$bench" --bytes-gib 2 --parts 8 --repeat "$reps" --dir "$dir" --sync --drop-caches
echo "{\"load_after\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
