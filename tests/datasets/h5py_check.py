# SPDX-License-Identifier: MIT
"""Read Loom datasets with stock h5py (no Loom code) and check their values.

    h5py_check.py gen CSV            write the reference CSV
    h5py_check.py imported CSV DS    DS (imported from CSV) holds exactly its rows
    h5py_check.py produced IN OUT    OUT = ds-test-producer of IN: x values equal,
                                     and w == "w<h % 1000>" on every record
"""
import json
import os
import random
import sys

import h5py
import numpy as np


def load(ds):
    """Columns of a dataset, concatenated over its partitions in order."""
    with open(os.path.join(ds, "manifest.json")) as f:
        m = json.load(f)
    cols = [c.split(":") for c in m["schema"].split(",")]
    out = {name: [] for name, _ in cols}
    for p in range(m["nparts"]):
        path = os.path.join(ds, "part-%05d.g%d.h5" % (p, m["generation"]))
        with h5py.File(path, "r") as f:
            assert int(f.attrs["loom_partition"]) == p, path
            assert int(f.attrs["loom_records"]) == m["partitions"][p]["records"], path
            assert f.attrs["loom_schema"].decode() == m["schema"], path
            for name, typ in cols:
                if typ == "bytes":
                    off = f[name + ".offsets"][:]
                    data = f[name + ".bytes"][:].tobytes()
                    assert off[0] == 0 and off[-1] == len(data), path
                    out[name] += [data[off[i]:off[i + 1]] for i in range(len(off) - 1)]
                elif typ.startswith("str"):
                    out[name] += [bytes(v) for v in f[name][:]]  # h5py strips NULs
                else:
                    out[name] += f[name][:].tolist()
    return m, cols, out


def rows():
    rnd = random.Random(1234)
    for i in range(500):
        yield (rnd.randint(-2**31, 2**31 - 1), rnd.randint(-2**63, 2**63 - 1),
               rnd.randint(0, 2**64 - 1), rnd.uniform(-1e6, 1e6) * 10**rnd.randint(-200, 200),
               "k%05d" % rnd.randint(0, 99999),
               "".join(rnd.choice("abc xyz,\"'") for _ in range(rnd.randint(0, 12))))


def csv_field(s):
    if any(c in s for c in ',"\n') or s.strip() != s:
        return '"' + s.replace('"', '""') + '"'
    return s


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        with open(sys.argv[2], "w") as f:
            f.write("a,b,c,d,e,f\n")
            for r in rows():
                f.write("%d,%d,%d,%r,%s,%s\n" % (r[0], r[1], r[2], r[3], r[4], csv_field(r[5])))
        return 0
    if cmd == "imported":
        m, cols, got = load(sys.argv[3])
        want = sorted(rows(), key=lambda r: r[2])
        have = sorted(zip(got["a"], got["b"], got["c"], got["d"], got["e"], got["f"]),
                      key=lambda r: r[2])
        assert len(have) == len(want) == 500, (len(have), len(want))
        for h, w in zip(have, want):
            assert h[0] == w[0] and h[1] == w[1] and h[2] == w[2], (h, w)
            assert h[3] == w[3], ("f64 not exact", h[3], w[3])
            assert h[4] == w[4].encode(), (h[4], w[4])
            assert h[5] == w[5].encode(), (h[5], w[5])
        assert m["partitioner"]["kind"] == "hash" and m["partitioner"]["key"] == "c"
        print("h5py: %d records of 6 types match over %d partitions" % (len(have), m["nparts"]))
        return 0
    if cmd == "produced":
        _, _, inp = load(sys.argv[2])
        m, _, out = load(sys.argv[3])
        assert sorted(out["x"]) == sorted(inp["x"]), "x values differ from the input"
        for h, w in zip(out["h"], out["w"]):
            assert w == b"w%d" % (h % 1000), (h, w)
        assert m["lineage"]["dependency"] == "narrow"
        print("h5py: %d produced records consistent" % len(out["x"]))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
