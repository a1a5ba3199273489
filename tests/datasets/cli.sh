#!/bin/bash
# SPDX-License-Identifier: MIT
# `loom ds ...` end to end: import/export, info, ls, head, gc; every bad-input case
# (one line naming file and partition, non-zero exit); recompute of narrow and wide
# lineage with a bit-identical result.
# Usage: cli.sh <ds-test-producer>
. "$LOOM_SOURCE_DIR/tests/system/lib.sh"
PRODUCER=$1
PY=/usr/bin/python3
cd "$TMP" || exit 1

# flip FILE OFFSET: xor one byte with 0x5a.
flip () {
    $PY - "$1" "$2" <<'PYEOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x5a]))
PYEOF
}

# offset FILE BYTES: offset of the first occurrence of BYTES (a Python bytes literal).
offset () {
    $PY -c "import sys; print(open(sys.argv[1],'rb').read().find($2))" "$1"
}

# --- import / export round trip, every type ---------------------------------------
cat >all.csv <<'CSV'
a,b,c,d,e,f
-2147483648,-9223372036854775808,18446744073709551615,0.1,abc,"with, comma"
2147483647,9223372036854775807,0,-1e+300,,"quote "" inside"
0,1,2,3.5,xyz12,
7,8,9,1e-300,a b,plain
CSV
S=a:i32,b:i64,c:u64,d:f64,e:str5,f:bytes
expect_ok "import all types" loom ds import --csv --header --schema $S --partitions 3 all.csv all.h5
expect_out "import summary" "4 records in 3 partitions"
expect_ok "export" loom ds export --csv all.h5
cmp -s "$TMP/out" all.csv || fail "export differs from the imported CSV: $(diff "$TMP/out" all.csv)"
expect_ok "head" loom ds head -n 2 all.h5
[ "$(wc -l <"$TMP/out")" -eq 3 ] || fail "head -n 2 printed $(wc -l <"$TMP/out") lines"
expect_ok "info" loom ds info --partitions all.h5
expect_out "info schema" "e +str5"
expect_out "info lineage" '"producer": "loom ds import"'
expect_ok "info json" loom ds info --json all.h5
expect_out "info json records" '"records": 4'
expect_ok "ls" loom ds ls .
expect_out "ls lists it" "^all.h5 +3 +4 "
expect_ok "export one partition" loom ds export --csv --no-header --partition 2 all.h5
[ "$(wc -l <"$TMP/out")" -ge 1 ] || fail "partition 2 export is empty"

# Hash partitioning on import agrees with the shared partitioner (checked by reading).
seq 1 1000 | sed 's/^/x/' >/dev/null
( echo x; seq 0 999 ) >x.csv
expect_ok "import hashed" loom ds import --csv --header --schema x:u64 --partitions 4 --key x --seed 7 x.csv xh.h5
expect_ok "info hashed" loom ds info xh.h5
expect_out "hash partitioner" "hash on 'x', seed 7"

# --- bad CSV input: FILE:LINE and nothing written -----------------------------------
printf 'a\n1\nx\n' >bad1.csv
expect_error "bad u64" "^loom: ds import: bad1.csv:3: column 'a': 'x' is not a u64$" \
    loom ds import --csv --header --schema a:u64 bad1.csv bad.h5
[ -e bad.h5/manifest.json ] && fail "a failed import left a dataset"
printf '1,2\n3\n' >bad2.csv
expect_error "field count" "bad2.csv:2: 1 fields, the schema has 2 columns" \
    loom ds import --csv --schema a:u64,b:u64 bad2.csv bad.h5
printf '1,"ab\n' >bad3.csv
expect_error "unterminated quote" "bad3.csv:.*unterminated quoted field" \
    loom ds import --csv --schema a:u64,b:bytes bad3.csv bad.h5
printf 'a,c\n1,2\n' >bad4.csv
expect_error "header mismatch" "header column 2 is 'c', the schema says 'b'" \
    loom ds import --csv --header --schema a:u64,b:u64 bad4.csv bad.h5
printf 'abcdef\n' >bad5.csv
expect_error "string too long" "longer than the column's width" \
    loom ds import --csv --schema s:str5 bad5.csv bad.h5
expect_error "bad schema" "unknown type 'u65'" loom ds import --csv --schema a:u65 x.csv bad.h5
expect_error "no such csv" "nope.csv: No such file" loom ds import --csv --schema a:u64 nope.csv bad.h5
expect_error "exists" "dataset exists" loom ds import --csv --header --schema x:u64 x.csv xh.h5

# --- bad datasets: one line naming the file and the partition -----------------------
fresh () {
    rm -rf d.h5
    loom ds import --csv --header --schema $S --partitions 3 all.csv d.h5 >/dev/null || fail "fresh import"
}
P1=d.h5/part-00001.g1.h5

fresh
size=$(stat -c %s $P1)
truncate -s $((size / 2)) $P1
expect_error "truncated" "^loom: ds verify: d.h5: partition 1 \(part-00001.g1.h5\): truncated" \
    loom ds verify d.h5
expect_error "truncated, export" "partition 1 \(part-00001.g1.h5\): truncated" \
    loom ds export --csv d.h5

fresh
flip $P1 "$(offset $P1 "b'inside'")"
expect_error "flipped data" "d.h5: partition 1 \(part-00001.g1.h5\): checksum mismatch" \
    loom ds verify d.h5
expect_error "flipped data, head" "partition 1 .*checksum mismatch" loom ds head d.h5

fresh
flip $P1 30 # inside the superblock (checksummed in the HDF5 1.10 format)
expect_error "flipped superblock" "d.h5: partition 1 \(part-00001.g1.h5\): not a readable HDF5 file" \
    loom ds verify d.h5

fresh
flip $P1 $(( $(offset $P1 "b'OHDR'") + 12 )) # inside an object header
expect_error "flipped object header" "^loom: ds verify: d.h5: partition 1 \(part-00001.g1.h5\): " \
    loom ds verify d.h5

fresh
flip d.h5/manifest.json "$(offset d.h5/manifest.json "b'records'")"
expect_error "flipped manifest" "^loom: ds verify: d.h5/manifest.json: " loom ds verify d.h5
fresh
$PY - d.h5/manifest.json <<'PYEOF'
import sys, re
p = sys.argv[1]; t = open(p).read()
t = t.replace('"bytes": ', '"bytes": 1', 1)  # still valid JSON, wrong content
open(p, "w").write(t)
PYEOF
expect_error "edited manifest" "d.h5/manifest.json: checksum mismatch" loom ds info d.h5

fresh
sed -i 's/"version": 1/"version": 2/' d.h5/manifest.json
expect_error "wrong version (manifest)" "d.h5/manifest.json: format version 2, this Loom reads 1" \
    loom ds info d.h5
fresh
$PY -c "import h5py,numpy; f=h5py.File('$P1','r+'); f.attrs.modify('loom_format_version', numpy.uint32(2))"
expect_error "wrong version (partition)" "partition 1 \(part-00001.g1.h5\): (format version 2|wrong size|truncated)" \
    loom ds verify d.h5

fresh
rm $P1
expect_error "missing partition" "^loom: ds verify: d.h5: partition 1 \(part-00001.g1.h5\): missing$" \
    loom ds verify d.h5
expect_error "missing dataset" "nothing.h5: no dataset" loom ds info nothing.h5

fresh
expect_error "schema mismatch" "d.h5: schema mismatch at column 1: dataset has" \
    loom ds export --csv --expect-schema a:i32,b:u64,c:u64,d:f64,e:str5,f:bytes d.h5
expect_ok "schema matches" loom ds export --csv --expect-schema $S d.h5

# --- recompute: narrow ---------------------------------------------------------------
( echo x; seq 1 5000 ) >in.csv
expect_ok "input" loom ds import --csv --header --schema x:u64 --partitions 4 in.csv in.h5
expect_ok "producer" "$PRODUCER" --input in.h5 --output out.h5 --seed 42
expect_ok "verify out" loom ds verify out.h5
cp -a out.h5 orig.h5
flip out.h5/part-00002.g1.h5 "$(offset out.h5/part-00002.g1.h5 "b'w'")"
rm out.h5/part-00000.g1.h5
expect_error "two bad partitions" "partition 0 .*missing \(and 1 more bad partitions\)" loom ds verify out.h5
expect_ok "recompute narrow" loom ds recompute out.h5
expect_out "narrow rebuilds only the bad ones" "bad partitions 0,2; narrow lineage"
expect_out "repair option" "--repair-partitions 0,2"
expect_out "bit-identical" "bit-identical"
for p in 0 1 2 3; do
    cmp -s out.h5/part-0000$p.g1.h5 orig.h5/part-0000$p.g1.h5 || fail "partition $p is not bit-identical"
done
expect_ok "verify after recompute" loom ds verify out.h5
expect_ok "nothing to do" loom ds recompute out.h5
expect_out "nothing to do" "nothing to recompute"

# Under mpirun (2 ranks), the same contract.
rm out.h5/part-00003.g1.h5
expect_ok "recompute under mpirun" loom ds recompute --launch "mpirun -np 2" out.h5
cmp -s out.h5/part-00003.g1.h5 orig.h5/part-00003.g1.h5 || fail "mpirun recompute not bit-identical"

# A changed input is refused.
expect_ok "change input" loom ds import --csv --header --overwrite --schema x:u64 --partitions 4 x.csv in.h5
rm out.h5/part-00001.g1.h5
expect_error "changed input" "input .*in.h5 changed since the dataset was made" loom ds recompute out.h5

# --- recompute: wide -------------------------------------------------------------------
expect_ok "producer wide" "$PRODUCER" --input in.h5 --output wide.h5 --seed 5 --wide
expect_ok "info wide" loom ds info wide.h5
expect_out "wide lineage" '"dependency": "wide"'
loom ds info --json --partitions wide.h5 | grep checksum >before.txt
rm wide.h5/part-00001.g1.h5
expect_ok "recompute wide" loom ds recompute wide.h5
expect_out "wide rebuilds all" "wide lineage: rebuilding the whole dataset"
expect_out "wide bit-identical" "bit-identical"
loom ds info --json --partitions wide.h5 | grep checksum >after.txt
cmp -s before.txt after.txt || fail "wide recompute changed checksums"
[ -e wide.h5/part-00000.g2.h5 ] || fail "wide recompute did not write a new generation"
[ -e wide.h5/part-00000.g1.h5 ] && fail "old generation left behind"

# --- gc -----------------------------------------------------------------------------
# Forced, it rebuilds from the new input and says the result differs.
expect_error "forced recompute differs" "partition 1 differs from the recorded checksum" \
    loom ds recompute --force out.h5
touch out.h5/.tmp.part-00000.g9.h5.1 out.h5/part-00007.g9.h5
expect_ok "gc young" loom ds gc out.h5
expect_out "gc keeps young files" "0 files removed"
expect_ok "gc dir" loom ds gc --min-age 0 .
expect_out "gc removes" "2 files removed"
expect_ok "verify after gc" loom ds verify out.h5
expect_error "gc bad path" "nope: not a directory" loom ds gc nope

# --- usage errors ---------------------------------------------------------------------
expect_error "unknown ds command" "^loom: ds: unknown command 'frob'" loom ds frob
expect_error "export needs --csv" "give a format: --csv" loom ds export out.h5
expect_error "bad partition option" "partition 9 out of range" loom ds export --csv --partition 9 out.h5
finish
