#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-join: every kind at np 1-4 and every strategy against SQLite (Zipf keys on
# the left, duplicates and missing keys on both sides); a budget that makes the local
# join spill (same rows, no file left); bad input: one line each, non-zero exit, no
# output.
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash
here=$(dirname "$0")
py=/usr/bin/python3

$py "$here/join_data.py" "$TMP" 3000 1200 || fail "generating the inputs"
expect_ok "import left" loom ds import --csv --schema "id:u64,lval:i64,tag:str4" \
    --partitions 3 "$TMP/left.csv" "$TMP/L"
expect_ok "import right" loom ds import --csv --schema "id:u64,rval:f64" \
    --partitions 2 "$TMP/right.csv" "$TMP/R"

# check NAME KIND: export output NAME and compare it with SQLite.
check () {
    expect_ok "$1 export" loom ds export --csv --no-header "$TMP/$1"
    $py "$here/join_oracle.py" "$2" "$TMP" "$TMP/out" >"$TMP/oracle" \
        || fail "$1: $(cat "$TMP/oracle")"
}

for np in 1 2 3 4; do
    for kind in inner left semi anti; do
        expect_ok "$kind np$np" loom run join -n $np --left "$TMP/L" --right "$TMP/R" \
            --on id --out "$TMP/o-$kind-$np" --kind $kind -q
        check "o-$kind-$np" $kind
    done
done
for s in repartition broadcast hybrid; do
    for kind in inner left anti; do
        expect_ok "$s $kind" loom run join -n 3 --left "$TMP/L" --right "$TMP/R" --on id \
            --out "$TMP/s-$s-$kind" --kind $kind --strategy $s -q
        check "s-$s-$kind" $kind
    done
done
# The derived schema: key, left values, right values, matched.
grep -q '"schema": "id:u64,lval:i64,tag:str4,rval:f64,matched:i32"' \
    "$TMP/o-left-2/manifest.json" || fail "left join schema: $(grep schema "$TMP/o-left-2/manifest.json")"

# Under mpirun, the same binary and options.
if command -v mpirun >/dev/null; then
    expect_ok "mpirun" mpirun -q -np 2 loom-join --left "$TMP/L" --right "$TMP/R" \
        --on id --out "$TMP/mpi" -q
    check mpi inner
fi

# A budget far below the data: grace-hash spill, same rows, no file left behind.
$py "$here/join_data.py" "$TMP" 80000 2000 || fail "generating the big inputs"
expect_ok "import big left" loom ds import --csv --schema "id:u64,lval:i64,tag:str4" \
    --partitions 2 "$TMP/left.csv" "$TMP/BL"
expect_ok "import big right" loom ds import --csv --schema "id:u64,rval:f64" \
    --partitions 2 "$TMP/right.csv" "$TMP/BR"
mkdir "$TMP/spill"
expect_ok "spilling join" loom run join -n 2 --left "$TMP/BL" --right "$TMP/BR" --on id \
    --out "$TMP/big" --kind left --strategy repartition --mem 4M --tmpdir "$TMP/spill" --stats -q
expect_out "spilled" '"spill_bytes":[1-9]'
check big left
[ -z "$(ls -A "$TMP/spill")" ] || fail "spill files left: $(ls "$TMP/spill")"

# Bad input.
expect_ok "import str key" loom ds import --csv --schema "id:str8,rval:f64" "$TMP/right.csv" \
    "$TMP/RS"
expect_error "missing dataset" "^loom: join: left input: .*nope" \
    loom run join -n 2 --left "$TMP/nope" --right "$TMP/R" --on id --out "$TMP/x"
expect_error "unknown column" "^loom: join: right input '.*/R' has no column 'lval'" \
    loom run join -n 2 --left "$TMP/L" --right "$TMP/R" --on lval --out "$TMP/x"
expect_error "key type mismatch" "^loom: join: key column 'id' is u64 in '.*/L' but 'id' is str8 in '.*/RS'" \
    loom run join -n 2 --left "$TMP/L" --right "$TMP/RS" --on id --out "$TMP/x"
expect_error "bad kind" "^loom: join: unknown --kind 'outer'" \
    loom run join -n 2 --left "$TMP/L" --right "$TMP/R" --on id --out "$TMP/x" --kind outer
expect_error "bad strategy" "^loom: join: unknown --strategy 'fast'" \
    loom run join -n 2 --left "$TMP/L" --right "$TMP/R" --out "$TMP/x" --strategy fast
expect_error "existing output" "^loom: join: .*exists" \
    loom run join -n 2 --left "$TMP/L" --right "$TMP/R" --on id --out "$TMP/o-inner-1"
expect_error "no output" "^loom: join: no output" loom run join -n 2 --left "$TMP/L" --right "$TMP/R"
[ ! -e "$TMP/x" ] || fail "a failed join left an output"
finish
