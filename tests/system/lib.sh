# SPDX-License-Identifier: MIT
# Helpers for system tests that drive the loom CLI. Source it; call 'finish' at the end.
set -u
failures=0
checks=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/loom-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fail () {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run CMD...: runs it, keeps stdout in $TMP/out, stderr in $TMP/err, status in $status.
run () {
    checks=$((checks + 1))
    "$@" >"$TMP/out" 2>"$TMP/err"
    status=$?
}

# expect_ok DESC CMD...: status 0.
expect_ok () {
    local desc=$1
    shift
    run "$@"
    [ "$status" -eq 0 ] || fail "$desc: exit $status, stderr: $(head -c 400 "$TMP/err")"
}

# expect_error DESC PATTERN CMD...: non-zero exit, exactly one line on stderr that
# matches the grep -E PATTERN, and nothing on stdout.
expect_error () {
    local desc=$1 pattern=$2
    shift 2
    run "$@"
    local lines
    lines=$(wc -l <"$TMP/err")
    if [ "$status" -eq 0 ]; then
        fail "$desc: exit 0, expected failure"
    elif [ "$lines" -ne 1 ]; then
        fail "$desc: expected one line on stderr, got $lines: $(head -c 400 "$TMP/err")"
    elif ! grep -qE -- "$pattern" "$TMP/err"; then
        fail "$desc: stderr '$(cat "$TMP/err")' does not match '$pattern'"
    fi
}

# expect_out DESC PATTERN: the last command's stdout matches grep -E PATTERN.
expect_out () {
    grep -qE -- "$2" "$TMP/out" || fail "$1: stdout does not match '$2': $(head -c 400 "$TMP/out")"
}

# other_user_bin: print the bin directory of a copy of Loom that every user can reach,
# for tests that run loom as another user. The build tree itself may sit below a
# directory only root can enter (a fresh CI clone under a 0700 temp dir), so install the
# build into $TMP, made traversable, once per test.
other_user_bin () {
    if [ ! -x "$TMP/prefix/bin/loom" ]; then
        chmod 755 "$TMP"
        cmake --install "$LOOM_BUILD_DIR" --prefix "$TMP/prefix" >/dev/null \
            || { fail "cannot install Loom for other users"; return 1; }
    fi
    echo "$TMP/prefix/bin"
}

finish () {
    echo "$((checks - failures)) passed, $failures failed"
    [ "$failures" -eq 0 ]
}
