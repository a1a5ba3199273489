#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-grep (map-only): same lines as grep, in input order, at np 1-4.
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash
expect_ok "gen" loom gen sort --bytes 1M --seed 2 --output "$TMP/in" -n 2
grep -F 'ab' "$TMP/in" >"$TMP/ref"
for np in 1 2 4; do
    expect_ok "grep np$np" loom run grep -n $np ab "$TMP/in" --output "$TMP/o$np" -q
    cmp -s "$TMP/o$np" "$TMP/ref" || fail "np$np differs from grep -F"
done
expect_ok "count" loom run grep -n 3 --count ab "$TMP/in"
[ "$(cat "$TMP/out")" = "$(wc -l <"$TMP/ref")" ] || fail "--count $(cat "$TMP/out")"
expect_ok "regex invert" loom run grep -n 2 -E -v '^[A-M]' "$TMP/in" --output "$TMP/re" -q
grep -E -v '^[A-M]' "$TMP/in" | cmp -s - "$TMP/re" || fail "-E -v differs from grep -E -v"
expect_error "bad regex" "^loom: grep: bad regex '\(': " loom run grep -E '(' "$TMP/in" --count
expect_error "no pattern" "^loom: grep: no pattern" loom run grep
expect_error "existing output" "exists" loom run grep ab "$TMP/in" --output "$TMP/o1"
finish
