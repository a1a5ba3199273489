#!/bin/bash
# SPDX-License-Identifier: MIT
# loom gen: the generator front end and kind 'sort' (format, determinism across rank
# counts, atomic output, bad input).
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash

expect_ok "gen --help" loom gen --help
expect_out "gen lists kind sort" '^  sort +TeraSort-style'
expect_ok "gen sort --help" loom gen sort --help
expect_out "sort options" -- '--bytes=N'

expect_ok "gen sort np1" loom gen sort --bytes 1M --seed 42 --output "$TMP/a" -n 1
expect_ok "gen sort np3" loom gen sort --bytes 1M --seed 42 --output "$TMP/b" -n 3
cmp -s "$TMP/a" "$TMP/b" || fail "np1 and np3 outputs differ"
[ "$(stat -c %s "$TMP/a")" -eq 1048500 ] || fail "size is $(stat -c %s "$TMP/a"), want 1048500"
# 100-byte lines: 10 printable key bytes, space, 32 hex digits, space, 55 letters.
bad=$(LC_ALL=C grep -cvE '^[ -~]{10} [0-9A-F]{32} [A-Z]{55}$' "$TMP/a")
[ "$bad" -eq 0 ] || fail "$bad records do not have the record format"
[ "$(wc -l <"$TMP/a")" -eq 10485 ] || fail "wrong record count"
# Record numbers count up from 0, so every line is distinct.
[ "$(cut -c12-43 "$TMP/a" | sort -u | wc -l)" -eq 10485 ] || fail "record numbers not distinct"
expect_ok "gen sort other seed" loom gen sort --records 10485 --seed 43 --output "$TMP/c"
cmp -s "$TMP/a" "$TMP/c" && fail "different seeds gave the same data"
# Keys are spread over the printable range.
nfirst=$(cut -c1 "$TMP/a" | sort -u | wc -l)
[ "$nfirst" -ge 90 ] || fail "first key byte takes only $nfirst values"
expect_ok "mpirun loom-gen" mpirun -q -np 2 loom-gen sort --bytes 1M --seed 42 --output "$TMP/d"
cmp -s "$TMP/a" "$TMP/d" || fail "mpirun loom-gen differs from loom gen"

# Bad input: one line, nothing written.
expect_error "existing output" "^loom: gen: sort: output '.*/a' exists \(use --force" \
    loom gen sort --bytes 1K --output "$TMP/a" -n 2
cmp -s "$TMP/a" "$TMP/b" || fail "refused run changed the existing output"
expect_ok "force" loom gen sort --bytes 1K --output "$TMP/a" --force
[ "$(stat -c %s "$TMP/a")" -eq 1000 ] || fail "--force did not replace the output"
expect_error "bad size" "^loom: gen: sort: --bytes must be a size like 1G, not '12Q'" \
    loom gen sort --bytes 12Q --output "$TMP/e" -n 2
expect_error "no size" "^loom: gen: sort: say how much" loom gen sort --output "$TMP/e"
expect_error "no output" "^loom: gen: sort: missing --output" loom gen sort --bytes 1K
expect_error "bad option" "^loom: gen: sort: unknown option '--frob'" \
    loom gen sort --frob --bytes 1K --output "$TMP/e"
expect_error "missing dir" "^loom: gen: sort: cannot create '/nonexistent/x'" \
    loom gen sort --bytes 1K --output /nonexistent/x
expect_error "unknown kind" "^loom: gen: no kind 'nosuch'" loom gen nosuch
expect_error "no kind" "^loom: gen: which kind" loom gen
[ ! -e "$TMP/e" ] || fail "a failed run left '$TMP/e'"
[ -z "$(ls "$TMP" | grep tmp-)" ] || fail "temporary files left: $(ls "$TMP")"
finish
