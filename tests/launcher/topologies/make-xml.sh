#!/bin/bash
# SPDX-License-Identifier: MIT
# How the topology XMLs here were made. Each reproduces the shape and the Linux OS
# numbering of a real machine (hwloc synthetic description + explicit PU indexes,
# exported by lstopo); vm-2core.xml is this project's CI machine, exported as is.
# Run from this directory to regenerate; the golden placements must not change.
set -euo pipefail
# pu indexes: core c of N has its hyperthreads at c and c+N (Linux's usual numbering)
smt () { /usr/bin/python3 -c "import sys; n=int(sys.argv[1]); print(','.join(str(x) for c in range(n) for x in (c, c + n)))" "$1"; }

# AMD EPYC 7543 x2, NPS4: 2 packages, 4 NUMA nodes each, one 32 MB L3 (CCD) per NUMA
# node with 8 cores, SMT2: 64 cores, 128 PUs; core c = PUs c, c+64.
lstopo-no-graphics --input "pack:2 numa:4(memory=64GB) l3:1(size=32MB) core:8 pu:2(indexes=$(smt 64))" \
    --of xml --force epyc-2s-8numa.xml
# Intel Xeon Gold 6148 x2: 2 packages, 1 NUMA node and one 27.5 MB L3 each, 20 cores,
# SMT2: 40 cores, 80 PUs; core c = PUs c, c+40.
lstopo-no-graphics --input "pack:2 numa:1(memory=96GB) l3:1(size=28160KB) core:20 pu:2(indexes=$(smt 40))" \
    --of xml --force intel-2s-smt.xml
# Intel Core i7-8565U laptop: 1 package, 1 NUMA node, 8 MB L3, 4 cores, SMT2; core c =
# PUs c, c+4.
lstopo-no-graphics --input "pack:1 numa:1(memory=16GB) l3:1(size=8MB) core:4 pu:2(indexes=$(smt 4))" \
    --of xml --force laptop-1numa.xml
