#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Oracle of the join system test: run the join of left.csv and right.csv (see
# join_data.py) in SQLite and compare its multiset of rows with the exported output
# of loom-join (CSV without header: id, lval, tag[, rval][, matched]).
# Usage: join_oracle.py KIND DIR OUT.csv   (KIND: inner, left, semi, anti)
import collections
import csv
import sqlite3
import sys

kind, d, outcsv = sys.argv[1], sys.argv[2], sys.argv[3]
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE l (id INTEGER, lval INTEGER, tag TEXT)")
db.execute("CREATE TABLE r (id INTEGER, rval REAL)")
with open(d + "/left.csv") as f:
    db.executemany("INSERT INTO l VALUES (?, ?, ?)",
                   [(int(a), int(b), c) for a, b, c in csv.reader(f)])
with open(d + "/right.csv") as f:
    db.executemany("INSERT INTO r VALUES (?, ?)", [(int(a), float(b)) for a, b in csv.reader(f)])
sql = {
    "inner": "SELECT l.id, l.lval, l.tag, r.rval FROM l JOIN r ON l.id = r.id",
    "left": "SELECT l.id, l.lval, l.tag, COALESCE(r.rval, 0.0), r.id IS NOT NULL "
            "FROM l LEFT JOIN r ON l.id = r.id",
    "semi": "SELECT id, lval, tag FROM l WHERE EXISTS (SELECT 1 FROM r WHERE r.id = l.id)",
    "anti": "SELECT id, lval, tag FROM l WHERE NOT EXISTS "
            "(SELECT 1 FROM r WHERE r.id = l.id)",
}[kind]


def norm(row):
    v = [int(row[0]), int(row[1]), str(row[2])]
    if kind in ("inner", "left"):
        v.append(float(row[3]))
    if kind == "left":
        v.append(int(row[4]))
    return tuple(v)


want = collections.Counter(norm(r) for r in db.execute(sql))
with open(outcsv, newline="") as f:
    got = collections.Counter(norm(r) for r in csv.reader(f))
if got != want:
    extra = list((got - want).elements())[:3]
    missing = list((want - got).elements())[:3]
    print("%s: %d rows, SQLite %d; extra %s; missing %s"
          % (kind, sum(got.values()), sum(want.values()), extra, missing))
    sys.exit(1)
print("%s: %d rows match SQLite" % (kind, sum(got.values())))
