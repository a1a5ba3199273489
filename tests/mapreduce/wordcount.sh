#!/bin/bash
# SPDX-License-Identifier: MIT
# loom-wordcount against a reference count (refcount.py): UTF-8 and raw bytes, empty
# files and directories, no final newline, one 100 MB line, more and fewer files
# than ranks; identical output at np 1-4; dataset output; bad input.
. "$(dirname "$0")/../system/lib.sh"
# PMIx's shared-memory store prints lock errors when many jobs start at once.
export PMIX_MCA_gds=hash
here=$(dirname "$0")
PY=/usr/bin/python3

# A corpus with everything awkward.
in=$TMP/in
mkdir -p "$in/sub/deeper" "$in/emptydir"
printf 'hello world\nhello  UTF-8 caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\n' >"$in/a.txt"
printf 'raw \x80\xff\xfe bytes \x01\x02 and\x00nul\ttabs\vvt\ffeed\rcr\n\n\n   \n' >"$in/b.txt"
printf 'no final newline here' >"$in/sub/c.txt"
: >"$in/sub/empty.txt"
for i in 1 2 3 4 5 6; do
    printf 'file %d word%d common common\n' "$i" "$i" >"$in/sub/deeper/f$i.txt"
done
$PY -c 'import random; random.seed(3); w=[("w%d" % i).encode() for i in range(500)]
import sys; sys.stdout.buffer.write(b"\n".join(b" ".join(random.choice(w) for _ in range(random.randint(0,30))) for _ in range(20000)))' >"$in/zz-big.txt"
$PY "$here/refcount.py" "$in" >"$TMP/ref"

for np in 1 2 3 4; do
    expect_ok "wordcount np$np" loom run wordcount -n $np --input "$in" --output "$TMP/out$np.txt" --text -q
    LC_ALL=C sort "$TMP/out$np.txt" | cmp -s - "$TMP/ref" || fail "np$np counts differ from the reference"
done
expect_ok "wordcount small budget" loom run wordcount -n 2 --input "$in" --output "$TMP/outmem.txt" --text -q --mem 4M
cmp -s "$TMP/outmem.txt" "$TMP/out1.txt" || fail "--mem 4M output differs"
for np in 2 3 4; do
    cmp -s "$TMP/out1.txt" "$TMP/out$np.txt" || fail "np$np output bytes differ from np1"
done

# Progress: a status line on a terminal (through `loom run`), nothing otherwise.
expect_ok "no tty" loom run wordcount -n 2 --input "$in" --top 1
[ ! -s "$TMP/err" ] || fail "progress or noise on a non-terminal stderr: $(head -c 200 "$TMP/err")"
if command -v script >/dev/null; then
    script -qc "loom run wordcount -n 2 --input '$in' --top 1" /dev/null >"$TMP/tty" 2>&1
    grep -q 'wordcount: map' "$TMP/tty" || fail "no progress line on a terminal"
    script -qc "loom run wordcount -n 2 --input '$in' --top 1 -q" /dev/null >"$TMP/tty" 2>&1
    grep -q 'wordcount: map' "$TMP/tty" && fail "progress despite --quiet"
fi

# Fewer files than ranks: one small file at np 4; more: seven files at np 2.
printf 'one two two\n' >"$TMP/one.txt"
expect_ok "one file np4" loom run wordcount -n 4 "$TMP/one.txt" --top 5
[ "$(cat "$TMP/out")" = "$(printf 'two\t2\none\t1')" ] || fail "--top on one file: $(cat "$TMP/out")"
expect_ok "top" loom run wordcount -n 2 --input "$in" --top 3 -q
[ "$(head -1 "$TMP/out")" = "$(LC_ALL=C sort -t"$(printf '\t')" -k2,2nr -k1,1 "$TMP/ref" | head -1)" ] \
    || fail "--top 3 first line '$(head -1 "$TMP/out")'"
[ "$(wc -l <"$TMP/out")" -eq 3 ] || fail "--top 3 printed $(wc -l <"$TMP/out") lines"

# An empty directory alone: no words, an empty output.
expect_ok "empty dir" loom run wordcount -n 2 "$in/emptydir" --output "$TMP/empty.txt" --text
[ -f "$TMP/empty.txt" ] && [ ! -s "$TMP/empty.txt" ] || fail "empty input did not give an empty output"

# One line of 100 MB (words), and a 4 MB word.
$PY -c 'import sys; o=sys.stdout.buffer; o.write(b"head\n"); o.write(b"abc defgh " * 10485760); o.write(b"x" * 4194304); o.write(b"\ntail\n")' >"$TMP/long.txt"
expect_ok "100 MB line" loom run wordcount -n 3 "$TMP/long.txt" --output "$TMP/long.out" --text -q
got=$(LC_ALL=C sort "$TMP/long.out" | awk -F'\t' '{ print (length($1) > 20 ? "x*" length($1) : $1) "=" $2 }' | tr '\n' ' ')
[ "$got" = "abc=10485760 defgh=10485760 head=1 tail=1 x*4194304=1 " ] || fail "100 MB line counts: $got"

# Dataset output: same counts, and the same partition checksums at every np.
expect_ok "dataset np1" loom run wordcount -n 1 --input "$in" --output "$TMP/ds1" -q
expect_ok "dataset np3" loom run wordcount -n 3 --input "$in" --output "$TMP/ds3" -q
$PY "$here/dsdump.py" "$TMP/ds3" | LC_ALL=C sort | cmp -s - "$TMP/ref" || fail "dataset rows differ from the reference"
$PY "$here/dsdump.py" --counts "$TMP/ds1" >"$TMP/c1"
$PY "$here/dsdump.py" --counts "$TMP/ds3" >"$TMP/c3"
cmp -s "$TMP/c1" "$TMP/c3" || fail "dataset partitions differ between np1 and np3"
[ "$(wc -l <"$TMP/c1")" -eq 8 ] || fail "expected 8 partitions"
expect_ok "mpirun directly" mpirun -q -np 2 loom-wordcount --input "$in" --output "$TMP/direct.txt" --text -q
cmp -s "$TMP/out1.txt" "$TMP/direct.txt" || fail "mpirun loom-wordcount differs from loom run"

# Bad input: one line, nothing written.
expect_error "missing input" "^loom: wordcount: input '.*/nope': No such file or directory$" \
    loom run wordcount -n 2 --input "$TMP/nope" --output "$TMP/bad1.txt" --text
[ ! -e "$TMP/bad1.txt" ] || fail "missing input left an output"
expect_error "existing text output" "^loom: wordcount: output '.*/out1.txt' exists \(use --force" \
    loom run wordcount -n 2 --input "$in" --output "$TMP/out1.txt" --text
cmp -s "$TMP/out1.txt" "$TMP/out2.txt" || fail "refused run changed the existing output"
expect_error "existing dataset" "exists" loom run wordcount -n 2 --input "$in" --output "$TMP/ds1"
$PY "$here/dsdump.py" --counts "$TMP/ds1" | cmp -s - "$TMP/c1" || fail "refused run changed the dataset"
expect_ok "force" loom run wordcount -n 2 --input "$TMP/one.txt" --output "$TMP/out1.txt" --text --force
[ "$(LC_ALL=C sort "$TMP/out1.txt" | tr '\n' ' ')" = "$(printf 'one\t1 two\t2 ')" ] || fail "--force did not replace"
expect_error "bad option" "^loom: wordcount: unknown option '--frob'" loom run wordcount -n 2 --frob "$in"
expect_error "bad mem" "^loom: wordcount: --mem must be a size" loom run wordcount --mem lots --top 1 "$in"
expect_error "no input" "^loom: wordcount: no input" loom run wordcount -n 2 --top 1
expect_error "fifo input" "is not a regular file or directory" loom run wordcount -n 2 --top 1 /dev/null
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    # Root reads anything: check unreadable files as nobody.
    mkdir -p "$TMP/perm" && chmod 755 "$TMP" "$TMP/perm"
    printf 'secret\n' >"$TMP/perm/locked.txt" && chmod 000 "$TMP/perm/locked.txt"
    printf 'open\n' >"$TMP/perm/open.txt"
    chmod 777 "$TMP/perm"
    expect_error "unreadable file" "^loom: wordcount: input '.*/locked.txt': Permission denied$" \
        setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp \
        "$(other_user_bin)/loom" run wordcount -n 2 --input "$TMP/perm" --output "$TMP/perm/o.txt" --text
    [ ! -e "$TMP/perm/o.txt" ] || fail "unreadable input left an output"
else
    chmod 000 "$in/a.txt"
    expect_error "unreadable file" "Permission denied" loom run wordcount -n 2 --top 1 "$in"
    chmod 644 "$in/a.txt"
fi
[ -z "$(ls "$TMP" | grep '\.tmp-')" ] || fail "temporary files left: $(ls "$TMP")"
finish
