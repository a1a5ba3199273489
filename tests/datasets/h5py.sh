#!/bin/bash
# SPDX-License-Identifier: MIT
# Interop: stock h5py (Debian's /usr/bin/python3) reads datasets written by Loom,
# by `loom ds import` and by a 2-rank MPI producer, and checks every value.
# Usage: h5py.sh <ds-test-producer>
. "$LOOM_SOURCE_DIR/tests/system/lib.sh"
PY=/usr/bin/python3
CHECK=$LOOM_SOURCE_DIR/tests/datasets/h5py_check.py
cd "$TMP" || exit 1
expect_ok "generate CSV" $PY "$CHECK" gen ref.csv
expect_ok "import" loom ds import --csv --header --schema a:i32,b:i64,c:u64,d:f64,e:str6,f:bytes \
    --partitions 3 --key c ref.csv ref.h5
expect_ok "h5py reads the import" $PY "$CHECK" imported ref.csv ref.h5
expect_out "all values" "500 records of 6 types match over 3 partitions"
# ds-test-producer wants a u64 column named x.
( echo x; seq 1 3000 ) >x.csv
expect_ok "import x" loom ds import --csv --header --schema x:u64 --partitions 4 x.csv in.h5
expect_ok "producer at np 2" mpirun -np 2 "$1" --input in.h5 --output out.h5 --seed 9
expect_ok "h5py reads the MPI output" $PY "$CHECK" produced in.h5 out.h5
expect_out "consistent" "3000 produced records consistent"
finish
