#!/bin/bash
# SPDX-License-Identifier: MIT
# Crash-at-every-point test: a writer SIGKILLed at each point of a write (first
# write, and overwrite of a previous version) must leave the previous version whole,
# or nothing, never a dataset that opens with missing or partial data. Then gc
# removes the orphans and a --resume run finishes the job.
# Usage: crash.sh <ds-crash-writer>
. "$LOOM_SOURCE_DIR/tests/system/lib.sh"
W=$1
D=$TMP/d
POINTS="begin part-appended part-synced part-renamed before-commit manifest-synced
manifest-renamed old-removing"

# Reference exports of complete versions 1 and 2.
"$W" "$TMP/ref1" 1 && loom ds export --csv "$TMP/ref1" >"$TMP/v1.csv" || fail "reference v1"
"$W" "$TMP/ref2" 2 && loom ds export --csv "$TMP/ref2" >"$TMP/v2.csv" || fail "reference v2"
cmp -s "$TMP/v1.csv" "$TMP/v2.csv" && fail "versions 1 and 2 must differ"

# state: prints v1, v2 or none, or fails the test if the dataset is anything else.
state () {
    local desc=$1
    if ! loom ds verify --quiet "$D" 2>"$TMP/verr"; then
        if grep -q "no dataset" "$TMP/verr"; then
            echo none
            return
        fi
        fail "$desc: dataset opens but does not verify: $(cat "$TMP/verr")"
        echo bad
        return
    fi
    loom ds export --csv "$D" >"$TMP/now.csv"
    if cmp -s "$TMP/now.csv" "$TMP/v1.csv"; then echo v1
    elif cmp -s "$TMP/now.csv" "$TMP/v2.csv"; then echo v2
    else fail "$desc: dataset verifies but is neither version"; echo bad; fi
}

for point in $POINTS; do
    # 1. First write killed at 'point': nothing, or (after the manifest) all of it.
    rm -rf "$D"
    checks=$((checks + 1))
    LOOM_DS_CRASH_AT=$point "$W" "$D" 1 2>/dev/null
    st=$?
    [ "$st" -eq 137 ] || [ "$point" = old-removing ] || fail "$point: writer not killed (exit $st)"
    s=$(state "first write, $point")
    case $point in
    manifest-renamed | old-removing) [ "$s" = v1 ] || fail "first write, $point: got $s, want v1" ;;
    *) [ "$s" = none ] || fail "first write, $point: got $s, want none" ;;
    esac

    # 2. Overwrite of v1 with v2 killed at 'point': v1 whole until the manifest
    #    rename, v2 whole after it.
    rm -rf "$D"
    "$W" "$D" 1 || fail "$point: clean v1"
    checks=$((checks + 1))
    LOOM_DS_CRASH_AT=$point "$W" "$D" 2 --overwrite 2>/dev/null
    st=$?
    [ "$st" -eq 137 ] || fail "$point: overwriting writer not killed (exit $st)"
    s=$(state "overwrite, $point")
    case $point in
    manifest-renamed | old-removing) [ "$s" = v2 ] || fail "overwrite, $point: got $s, want v2" ;;
    *) [ "$s" = v1 ] || fail "overwrite, $point: got $s, want v1" ;;
    esac

    # 3. gc removes the orphans and keeps the visible version intact.
    expect_ok "gc after $point" loom ds gc --min-age 0 --quiet "$D"
    ls -A "$D" | grep -q '^\.tmp\.' && fail "$point: gc left temporary files"
    s2=$(state "after gc, $point")
    [ "$s2" = "$s" ] || fail "$point: gc changed the dataset ($s -> $s2)"

    # 4. Resume finishes v2, reusing committed partitions.
    rm -rf "$D"
    "$W" "$D" 1 || fail "$point: clean v1 again"
    LOOM_DS_CRASH_AT=$point "$W" "$D" 2 --overwrite 2>/dev/null
    expect_ok "resume after $point" "$W" "$D" 2 --overwrite --resume
    s=$(state "resume, $point")
    [ "$s" = v2 ] || fail "resume after $point: got $s, want v2"
done
finish
