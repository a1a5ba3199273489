#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Print a Loom dataset's rows, partition by partition, one line per row with the
# columns joined by tabs (bytes/strN raw, numbers in decimal). With --counts, print
# only the record count and checksum of every partition from the manifest.
import json
import os
import sys

import h5py

args = sys.argv[1:]
counts = args and args[0] == "--counts"
if counts:
    args = args[1:]
path = args[0]
with open(os.path.join(path, "manifest.json")) as f:
    man = json.load(f)
if counts:
    for i, p in enumerate(man["partitions"]):
        print(i, p["records"], p["checksum"])
    sys.exit(0)
cols = [c.split(":") for c in man["schema"].split(",")]
files = sorted(n for n in os.listdir(path) if n.startswith("part-") and n.endswith(".h5"))
out = sys.stdout.buffer
for name in files:
    with h5py.File(os.path.join(path, name), "r") as h:
        n = int(h.attrs["loom_records"])
        data = []
        for cname, ctype in cols:
            if ctype == "bytes":
                b = bytes(h[cname + ".bytes"][()])
                o = h[cname + ".offsets"][()]
                data.append([b[o[i]:o[i + 1]] for i in range(n)])
            elif ctype.startswith("str"):
                data.append([bytes(x).rstrip(b"\0") for x in h[cname][()]])
            elif ctype == "f64":
                data.append([repr(float(x)).encode() for x in h[cname][()]])
            else:
                data.append([str(int(x)).encode() for x in h[cname][()]])
        for i in range(n):
            out.write(b"\t".join(col[i] for col in data) + b"\n")
