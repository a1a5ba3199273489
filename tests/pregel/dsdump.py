# SPDX-License-Identifier: MIT
# dsdump.py DATASET: print a Loom dataset's records sorted by the first column, one
# per line, read with h5py (no Loom code), so tests compare outputs written with
# different numbers of partitions. Floats print with repr (exact round trip).
import json
import os
import sys

import h5py

path = sys.argv[1]
with open(os.path.join(path, "manifest.json")) as f:
    manifest = json.load(f)
rows = []
for name in sorted(os.listdir(path)):
    if not name.endswith(".h5"):
        continue
    with h5py.File(os.path.join(path, name), "r") as h:
        cols = [k for k in ("id", "value", "src", "dst", "weight") if k in h]
        data = [h[k][()] for k in cols]
        rows.extend(zip(*[d.tolist() for d in data]))
rows.sort()
for r in rows:
    print(" ".join(repr(x) for x in r))
