#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-graph-build against a reference edge set (dedup, symmetrize, self-loops,
# weights, comments), identical partitions at np 1-4, Pregel can load the result,
# and bad input.
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash
here=$(dirname "$0")
PY=/usr/bin/python3

mkdir -p "$TMP/edges"
cat >"$TMP/edges/a.txt" <<'E'
# a comment line
0 1 2.5
1 2
2 0 0.5   # trailing comment
0 1 1.5
3 3 4

  4	5 7
E
printf '5 4 1\n1 2 9\n18446744073709551615 0\n7 7' >"$TMP/edges/b.txt"
$PY - "$TMP/edges" >"$TMP/gen.py.out" <<'E'
import os, random, sys
random.seed(5)
with open(os.path.join(sys.argv[1], "c.txt"), "w") as f:
    for _ in range(5000):
        f.write("%d %d %g\n" % (random.randrange(300), random.randrange(300), random.randrange(1, 9) / 2))
E

# Reference: edges as "src<TAB>dst[<TAB>weight]" lines, sorted.
ref () {
    $PY - "$TMP/edges" "$@" <<'E'
import os, sys
d = sys.argv[1]; opts = set(sys.argv[2:])
edges = {}
for name in sorted(os.listdir(d)):
    for line in open(os.path.join(d, name)):
        line = line.split("#")[0].split()
        if not line:
            continue
        u, v = int(line[0]), int(line[1])
        w = float(line[2]) if len(line) > 2 and "w" in opts else 1.0
        pairs = [(u, v)] + ([(v, u)] if "sym" in opts and u != v else [])
        for p in pairs:
            if "noloop" in opts and p[0] == p[1]:
                continue
            edges[p] = min(edges.get(p, w), w)
for (u, v) in sorted(edges):
    print("%d\t%d" % (u, v) + ("\t%r" % edges[(u, v)] if "w" in opts else ""))
E
}

dump () { $PY "$here/dsdump.py" "$1" | LC_ALL=C sort -t"$(printf '\t')" -k1,1n -k2,2n; }

ref >"$TMP/ref.plain"
expect_ok "plain np2" loom run graph-build -n 2 "$TMP/edges" --output "$TMP/g1" -q
dump "$TMP/g1" | cmp -s - <(LC_ALL=C sort -t"$(printf '\t')" -k1,1n -k2,2n "$TMP/ref.plain") \
    || fail "plain edge set differs from the reference"

ref w sym noloop | LC_ALL=C sort -t"$(printf '\t')" -k1,1n -k2,2n >"$TMP/ref.wsn"
for np in 1 3 4; do
    expect_ok "weighted symmetric np$np" loom run graph-build -n $np "$TMP/edges" --output "$TMP/g$np.wsn" \
        --weighted --symmetrize --drop-self-loops -q
    dump "$TMP/g$np.wsn" | cmp -s - "$TMP/ref.wsn" || fail "np$np weighted symmetric edges differ"
    $PY "$here/dsdump.py" --counts "$TMP/g$np.wsn" >"$TMP/c$np"
done
cmp -s "$TMP/c1" "$TMP/c3" && cmp -s "$TMP/c1" "$TMP/c4" || fail "partitions differ between np 1, 3, 4"
grep -q '"schema": "src:u64,dst:u64,weight:f64"' "$TMP/g1.wsn/manifest.json" || fail "schema"
grep -q '"key": "src"' "$TMP/g1.wsn/manifest.json" || fail "not partitioned by src"

# Pregel reads it (when the Pregel apps are built).
if command -v loom-cc >/dev/null 2>&1 || [ -x "$(dirname "$(command -v loom)")/loom-cc" ]; then
    expect_ok "pregel loads graph-build output" loom run cc -n 2 --input "$TMP/g1.wsn" --output "$TMP/cc"
fi

# Bad input: one line naming the problem; nothing written.
printf '1 2\nfoo bar\n' >"$TMP/bad.txt"
expect_error "bad line" "^loom: graph-build: bad edge line 'foo bar'" \
    loom run graph-build -n 2 "$TMP/bad.txt" --output "$TMP/gbad"
[ ! -e "$TMP/gbad/manifest.json" ] || fail "bad input left a dataset"
printf '1 2 x\n' >"$TMP/badw.txt"
expect_error "bad weight" "bad edge line '1 2 x'" loom run graph-build "$TMP/badw.txt" --weighted --output "$TMP/gbad"
expect_error "existing" "exists" loom run graph-build -n 2 "$TMP/edges" --output "$TMP/g1"
expect_error "missing" "^loom: graph-build: input '.*/none': No such file" loom run graph-build "$TMP/none" --output "$TMP/gx"
expect_error "bad option" "^loom: graph-build: unknown option '--symmetric'" loom run graph-build --symmetric "$TMP/edges"
finish
