#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-sort and loom-sort-validate: TeraSort records and awkward lines against
# `LC_ALL=C sort` at np 1-4; the validator accepts sorted output and rejects
# disorder, lost, duplicated and altered records; dataset output; bad input.
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash
here=$(dirname "$0")

expect_ok "gen" loom gen sort --bytes 2M --seed 11 --output "$TMP/recs" -n 2
LC_ALL=C sort "$TMP/recs" >"$TMP/ref"
for np in 1 2 3 4; do
    expect_ok "sort np$np" loom run sort -n $np --input "$TMP/recs" --output "$TMP/out$np" --text -q
    cmp -s "$TMP/out$np" "$TMP/ref" || fail "np$np output differs from LC_ALL=C sort"
done
# A budget far below the data: the grouping spills sorted runs and merges them. (8 MB
# over 2 ranks against the 2 MiB grouping share of --mem 4M; the shuffle itself only
# spills beyond its own share, which streaming to the grouping never reaches.)
expect_ok "gen big" loom gen sort --bytes 8M --seed 12 --output "$TMP/big" -n 2
LC_ALL=C sort "$TMP/big" >"$TMP/bigref"
expect_ok "sort spilling" loom run sort -n 2 --input "$TMP/big" --output "$TMP/outmem" --text -q --mem 4M --stats
expect_out "spilled" '"spill_bytes":[1-9]'
cmp -s "$TMP/outmem" "$TMP/bigref" || fail "spilling sort differs from LC_ALL=C sort"
[ -z "$(ls "${TMPDIR:-/tmp}" | grep loom-mr- || true)" ] || fail "spill files left in ${TMPDIR:-/tmp}"
expect_ok "validate" loom run sort-validate -n 3 "$TMP/out2" --input "$TMP/recs"
expect_out "validate message" "20971 lines in order, checksum [0-9a-f]{16}, same multiset"

# Lines of any length, duplicates, empty lines, bytes above 0x7f, no final newline,
# spread over several files.
mkdir -p "$TMP/mixed"
printf 'b\na\n\nab\nabcdefghijklmnop\nabcdefghij\nabcdefghij\nabcdefghi\n\xff\xfe end\n' >"$TMP/mixed/1"
printf 'zz\n \n  \n\t tab\nZZ\nabcdefghijA\nabcdefghij\n' >"$TMP/mixed/2"
printf 'last line no newline' >"$TMP/mixed/3"
cat "$TMP/mixed/1" "$TMP/mixed/2" "$TMP/mixed/3" | LC_ALL=C sort >"$TMP/mref"
for np in 1 3; do
    expect_ok "mixed np$np" loom run sort -n $np "$TMP/mixed" --output "$TMP/mout$np" --text -q
    cmp -s "$TMP/mout$np" "$TMP/mref" || fail "mixed lines np$np differ from LC_ALL=C sort"
done

# The validator must fail on bad output.
head -c 1000 "$TMP/ref" >"$TMP/short"
expect_error "lost records" "is ordered but not a permutation" \
    loom run sort-validate -n 2 "$TMP/short" --input "$TMP/recs"
(cat "$TMP/ref"; tail -1 "$TMP/ref") >"$TMP/dup"
expect_error "duplicated record" "not a permutation" loom run sort-validate -n 2 "$TMP/dup" --input "$TMP/recs"
sed '5000s/^./~/' "$TMP/ref" >"$TMP/altered"
expect_error "altered record" "not sorted|not a permutation" \
    loom run sort-validate -n 2 "$TMP/altered" --input "$TMP/recs"
expect_error "unsorted" "^loom: sort-validate: '.*/recs' is not sorted" loom run sort-validate -n 3 "$TMP/recs"
# Swap two lines at a rank boundary only (np 2 splits at the middle).
/usr/bin/python3 -c '
import sys; l=open(sys.argv[1],"rb").read().split(b"\n")[:-1]; m=len(l)//2
l[m-1],l[m]=l[m],l[m-1]; open(sys.argv[2],"wb").write(b"\n".join(l)+b"\n")' "$TMP/ref" "$TMP/swap"
expect_error "boundary disorder" "is not sorted: [0-9]+ lines out of order" loom run sort-validate -n 2 "$TMP/swap"

# Dataset output: range-partitioned, one partition per rank, rows in order.
expect_ok "sort dataset" loom run sort -n 3 "$TMP/recs" --output "$TMP/ds" -q
/usr/bin/python3 "$here/dsdump.py" "$TMP/ds" | tr -d '\t' | cmp -s - "$TMP/ref" || fail "dataset rows are not the sorted records"
grep -q '"kind": "range"' "$TMP/ds/manifest.json" || fail "dataset is not range-partitioned"

# Bad input.
expect_error "missing input" "^loom: sort: input '.*/nope': No such file" loom run sort -n 2 "$TMP/nope" --output "$TMP/x" --text
expect_error "existing output" "^loom: sort: output '.*/out1' exists" loom run sort -n 2 "$TMP/recs" --output "$TMP/out1" --text
expect_error "no output" "^loom: sort: no output" loom run sort -n 2 "$TMP/recs"
expect_error "bad option" "^loom: sort: unknown option '--bogus'" loom run sort --bogus
[ ! -e "$TMP/x" ] || fail "failed sort left an output"
finish
