#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Inputs of the join system test: left.csv (id:u64 Zipf(1.0) over 600 keys, so a few
# keys are hot; lval:i64; tag:str4) and right.csv (id:u64 uniform over 0..799 with
# duplicates, so some keys are missing on either side; rval:f64), N rows each as
# given, deterministic.
import random
import sys

out, nleft, nright = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
keys = 600
weights = [1.0 / (k + 1) for k in range(keys)]
ids = rng.choices(range(keys), weights=weights, k=nleft)
with open(out + "/left.csv", "w") as f:
    for i, k in enumerate(ids):
        tag = "".join(rng.choice("abcdxyz") for _ in range(rng.randint(1, 4)))
        f.write("%d,%d,%s\n" % (k * 7919 + 3, i - nleft // 2, tag))
with open(out + "/right.csv", "w") as f:
    for i in range(nright):
        f.write("%d,%r\n" % (rng.randrange(800) * 7919 + 3, i * 0.5))
