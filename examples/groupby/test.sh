#!/bin/sh
# SPDX-License-Identifier: MIT
# The group-by example at 1..4 ranks equals a group-by computed by awk.
set -eu
exe=$1 mpiexec=$2 csv=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loom-groupby.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk -F, '{ k = $1; v = $2 + 0
           if (!(k in c)) { mn[k] = v; mx[k] = v }
           c[k]++; s[k] += v; if (v < mn[k]) mn[k] = v; if (v > mx[k]) mx[k] = v }
         END { for (k in c) print k, c[k], s[k], mn[k], mx[k] }' "$csv" | sort >"$tmp/want"
[ -s "$tmp/want" ] || { echo "example_groupby: empty reference" >&2; exit 1; }
for np in 1 2 3 4; do
    "$mpiexec" -n "$np" --oversubscribe "$exe" "$csv" >"$tmp/out.$np"
    sort "$tmp/out.$np" >"$tmp/got.$np"
    if ! cmp -s "$tmp/want" "$tmp/got.$np"; then
        echo "example_groupby: np=$np differs from the reference:" >&2
        diff "$tmp/want" "$tmp/got.$np" | head >&2
        exit 1
    fi
done
# Bad input: a missing file is one clear line and a non-zero exit.
if "$mpiexec" -n 2 --oversubscribe "$exe" "$tmp/missing.csv" >/dev/null 2>"$tmp/err"; then
    echo "example_groupby: a missing file did not fail" >&2
    exit 1
fi
grep -q "missing.csv" "$tmp/err" || { echo "example_groupby: no error naming the file" >&2; exit 1; }
echo "example_groupby: np 1-4 equal the awk reference ($(wc -l <"$tmp/want") groups)"
