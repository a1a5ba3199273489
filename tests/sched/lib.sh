# SPDX-License-Identifier: MIT
# Helpers for loomd system tests: each test runs its own loomd on its own state
# directory and always stops it (even when the test fails).
. "$(dirname "$0")/../system/lib.sh"

# A state directory others can reach (mktemp's $TMP is 0700) for the multi-user test.
SROOT=$(mktemp -d "${TMPDIR:-/tmp}/loom-sched.XXXXXX")
chmod 0711 "$SROOT"
S="$SROOT/state"
export LOOM_STATE_DIR="$S"

loomd_pid () {
    head -1 "$S/loomd.lock" 2>/dev/null
}

cleanup_sched () {
    loom sched stop >/dev/null 2>&1
    local pid
    pid=$(loomd_pid)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$SROOT" "$TMP"
}
trap cleanup_sched EXIT

# wait_state JOB STATE [SECONDS]: poll loom ps until JOB is in STATE.
wait_state () {
    local job=$1 want=$2 limit=${3:-20} i=0
    while [ $i -lt $((limit * 10)) ]; do
        if loom ps --json "$job" 2>/dev/null | grep -q "\"state\": \"$want\""; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    fail "job $job did not reach state $want in ${limit}s: $(loom ps --all --tasks "$job" 2>&1 | tail -3)"
    return 1
}

# json_get EXPR: evaluate a Python expression on the last command's stdout (as 'd').
json_get () {
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$TMP/out"
}
