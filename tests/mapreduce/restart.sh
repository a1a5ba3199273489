#!/bin/bash
# SPDX-License-Identifier: MIT
# Restart: a run killed after committing some dataset partitions is rerun; the rerun
# reuses those partitions (stats: partitions_reused) and the dataset equals a clean
# run's, partition by partition. LOOM_MR_CRASH_AFTER_PARTS=k makes rank 0
# exit (status 137, as if killed) right after its k-th partition is durable; the
# launcher then kills the other rank wherever it is.
. "$(dirname "$0")/../system/lib.sh"
export PMIX_MCA_gds=hash
here=$(dirname "$0")
PY=/usr/bin/python3
$PY -c 'import random; random.seed(9); w=["w%d" % i for i in range(3000)]
print("\n".join(" ".join(random.choice(w) for _ in range(12)) for _ in range(20000)))' >"$TMP/in.txt"

expect_ok "clean run" loom run wordcount -n 2 "$TMP/in.txt" --output "$TMP/clean" --partitions 8 -q
run env LOOM_MR_CRASH_AFTER_PARTS=2 loom run wordcount -n 2 "$TMP/in.txt" --output "$TMP/ds" --partitions 8 -q
[ "$status" -ne 0 ] || fail "the crashing run exited 0"
[ ! -e "$TMP/ds/manifest.json" ] || fail "a crashed run left a committed dataset"
expect_ok "rerun" loom run wordcount -n 2 "$TMP/in.txt" --output "$TMP/ds" --partitions 8 -q --stats
reused=$(grep -o '"partitions_reused":[0-9]*' "$TMP/out" | cut -d: -f2)
[ "${reused:-0}" -ge 2 ] || fail "rerun reused ${reused:-0} partitions, expected at least 2 on rank 0"
$PY "$here/dsdump.py" --counts "$TMP/clean" >"$TMP/c.clean"
$PY "$here/dsdump.py" --counts "$TMP/ds" >"$TMP/c.ds"
cmp -s "$TMP/c.clean" "$TMP/c.ds" || fail "restarted dataset differs from a clean run: $(diff "$TMP/c.clean" "$TMP/c.ds" | head -3)"
$PY "$here/dsdump.py" "$TMP/ds" | LC_ALL=C sort >"$TMP/rows"
$PY "$here/refcount.py" "$TMP/in.txt" | cmp -s - "$TMP/rows" || fail "restarted dataset rows are not the reference counts"
finish
