#!/bin/bash
# SPDX-License-Identifier: MIT
# `loom launch` end to end on this node: MPI hello at N=1..4 with bindings checked
# against the plan, MPI_Abort, segfault, SIGTERM, timeout, disjoint concurrent jobs,
# non-MPI programs, I/O, bad input, and nothing left behind.
. "$LOOM_SOURCE_DIR/tests/system/lib.sh"

# Everything the jobs might leave in a temporary directory lands here, so leaks are
# ours to see even while other tests run.
export TMPDIR="$TMP/tmp"
mkdir -p "$TMPDIR"

# Our processes carry this mark, so other runs of this test (other engineers, other
# builds) running at the same time are not mistaken for ours.
export LOOM_TEST_MARK="$TMP"
# mine PATTERN: pids of our processes whose command line matches PATTERN.
mine () {
    local p
    for p in $(pgrep -f "$1"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "LOOM_TEST_MARK=$TMP" && echo "$p"
    done
}

# Shared-memory directories of launchers before we start (others run tests too).
shm_before=" $(cd /dev/shm && echo loom.*) "

cores=$(loom topo --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["allowed_cores"])')

# Rank R's binding from the plan (--report-bindings, stderr) and from the rank itself.
check_bindings () {
    local n=$1 r plan got
    for r in $(seq 0 $((n - 1))); do
        plan=$(sed -n "s/^rank $r on [^:]*: PUs \([^ ]*\) .*/\1/p" "$TMP/err")
        got=$(sed -n "s/^rank $r of $n on .*, bound to PUs \(.*\)$/\1/p" "$TMP/out")
        [ -n "$plan" ] && [ "$plan" = "$got" ] ||
            fail "-n $n rank $r: planned PUs '$plan', rank reports '$got'"
    done
}

for n in 1 2 3 4; do
    over=""
    [ "$n" -gt "$cores" ] && over=--oversubscribe
    expect_ok "launch hello -n $n" loom launch -n $n $over --report-bindings loom-hello
    expect_out "hello -n $n" "^hello: $n ranks, allreduce and ring exchange correct$"
    check_bindings $n
done

# Open MPI as direct-launched ranks sees the plan's placement without mpirun:
# ob1/vader is the shared-memory path, which needs the PMIx locality info.
OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader expect_ok "hello over vader" \
    loom launch -n 2 loom-hello --quiet
expect_out "vader hello" "^hello: 2 ranks"

# MPI_Abort(7) on one rank: exit 7, the reason in one line.
run loom launch -n 2 loom-hello --quiet --abort 1
[ "$status" -eq 7 ] || fail "MPI_Abort(7): exit $status, expected 7"
grep -q '^loom: launch: rank 1 called MPI_Abort (status 7)$' "$TMP/err" ||
    fail "abort reason missing: $(tail -c 300 "$TMP/err")"

# Again and again: rank 1 aborts while rank 0 waits in MPI_Finalize's fence, and the
# launcher kills rank 0. With PMIx 4.2.2 both connections dropping at once freed the
# fence twice: the launcher hung (timeout's 137) or crashed (139) at job end, 2 to 16
# runs in 100 depending on load.
bad=""
for i in $(seq 10); do
    timeout -s KILL 30 loom launch -n 2 loom-hello --quiet --abort 1 >/dev/null 2>"$TMP/err"
    status=$?
    checks=$((checks + 1))
    [ "$status" -eq 7 ] || bad="$bad $status"
    grep -q 'PMIx server did not complete' "$TMP/err" && bad="$bad stuck"
done
[ -z "$bad" ] || fail "MPI_Abort repeated: exits other than 7:$bad"

# A segfault: exit 139 and no rank left behind. (Under ASan the rank's own SEGV handler
# would turn the signal into exit 1; let the signal through.)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0 run loom launch -n 3 --oversubscribe loom-hello --quiet --segv 1
[ "$status" -eq 139 ] || fail "segfault: exit $status, expected 139"
grep -q '^loom: launch: rank 1 (pid [0-9]*) killed by signal 11' "$TMP/err" ||
    fail "segfault reason missing: $(tail -c 300 "$TMP/err")"
[ -z "$(mine '^loom-hello --quiet --segv 1')" ] || fail "ranks survived the segfault"

# SIGTERM to the launcher: it takes the ranks down and exits 128+15.
loom launch -n 2 loom-hello --quiet --sleep 30 >"$TMP/term.out" 2>&1 &
lpid=$!
# Wait until both ranks are inside MPI (their shared-memory segments exist).
for _ in $(seq 200); do
    ls /dev/shm/loom."$lpid".*/vader_segment.* >/dev/null 2>&1 && break
    sleep 0.1
done
[ "$(mine '^loom-hello --quiet --sleep 30' | wc -l)" -eq 2 ] || fail "SIGTERM: ranks did not start"
# While it runs, Open MPI's shared-memory segments live in the job's own directory.
ls /dev/shm/loom."$lpid".*/vader_segment.* >/dev/null 2>&1 ||
    fail "vader segments are not in /dev/shm/loom.$lpid.*"
kill -TERM $lpid
wait $lpid
status=$?
checks=$((checks + 1))
[ "$status" -eq 143 ] || fail "SIGTERM: launcher exit $status, expected 143"
sleep 0.2
[ -z "$(mine '^loom-hello --quiet --sleep 30')" ] || fail "ranks survived SIGTERM"

# SIGINT (^C) too: exit 128+2, no rank left.
loom launch -n 2 loom-hello --quiet --sleep 31 >"$TMP/int.out" 2>&1 &
lpid=$!
for _ in $(seq 200); do
    [ "$(mine '^loom-hello --quiet --sleep 31' | wc -l)" -eq 2 ] && break
    sleep 0.1
done
kill -INT $lpid
wait $lpid
status=$?
checks=$((checks + 1))
[ "$status" -eq 130 ] || fail "SIGINT: launcher exit $status, expected 130"
[ -z "$(mine '^loom-hello --quiet --sleep 31')" ] || fail "ranks survived SIGINT"

# --timeout kills the job and exits 124.
start=$(date +%s%N)
run loom launch -n 1 --timeout 0.5 sleep 20
[ "$status" -eq 124 ] || fail "timeout: exit $status, expected 124"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || fail "timeout took too long"

# Two concurrent jobs on disjoint cpusets never share a PU.
if [ "$cores" -ge 2 ]; then
    loom launch -n 2 --oversubscribe --cpuset 0 loom-hello --sleep 0.5 >"$TMP/a.out" 2>&1 &
    a=$!
    loom launch -n 2 --oversubscribe --cpuset 1 loom-hello --sleep 0.5 >"$TMP/b.out" 2>&1 &
    b=$!
    wait $a || fail "job on cpuset 0 failed: $(tail -c 300 "$TMP/a.out")"
    wait $b || fail "job on cpuset 1 failed: $(tail -c 300 "$TMP/b.out")"
    checks=$((checks + 1))
    pa=$(sed -n 's/^rank .*, bound to PUs \(.*\)$/\1/p' "$TMP/a.out" | sort -u | tr '\n' ' ')
    pb=$(sed -n 's/^rank .*, bound to PUs \(.*\)$/\1/p' "$TMP/b.out" | sort -u | tr '\n' ' ')
    [ "$pa" = "0 " ] || fail "job A ranks bound to '$pa', expected only PU 0"
    [ "$pb" = "1 " ] || fail "job B ranks bound to '$pb', expected only PU 1"
fi

# Non-MPI programs get LOOM_RANK, LOOM_SIZE, LOOM_LOCAL_RANK.
expect_ok "non-MPI env" loom launch -n 3 --oversubscribe sh -c 'echo "r=$LOOM_RANK s=$LOOM_SIZE l=$LOOM_LOCAL_RANK"'
[ "$(sort "$TMP/out" | tr '\n' ' ')" = "r=0 s=3 l=0 r=1 s=3 l=1 r=2 s=3 l=2 " ] ||
    fail "non-MPI env: $(tr '\n' ' ' <"$TMP/out")"

# A failing rank: its exit code, the others killed rather than waited for.
start=$(date +%s%N)
run loom launch -n 2 sh -c '[ "$LOOM_RANK" = 1 ] && exit 5; sleep 20'
[ "$status" -eq 5 ] || fail "rank exit 5: launcher exit $status"
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || fail "other rank was not killed"

# stdin goes to rank 0 only; --tag-output prefixes lines as mpirun does.
checks=$((checks + 1))
echo "through stdin" | loom launch -n 2 --tag-output sh -c 'cat; echo "done $LOOM_RANK"' >"$TMP/out" 2>"$TMP/err" ||
    fail "stdin job failed: $(cat "$TMP/err")"
grep -qx '\[1,0\]<stdout>:through stdin' "$TMP/out" || fail "rank 0 did not get stdin: $(cat "$TMP/out")"
grep -q 'through stdin' <(grep -v '^\[1,0\]' "$TMP/out") && fail "rank 1 got stdin too"
grep -qx '\[1,1\]<stdout>:done 1' "$TMP/out" || fail "tagged output of rank 1 missing"

# Placement only: --dry-run --explain says why, without starting anything.
expect_ok "dry run" loom launch --dry-run --explain -n 4 --map-by numa --synthetic "pack:2 numa:2 core:4 pu:2"
expect_out "explain header" '^placement of 4 ranks: map-by numa, rank-by slot'
expect_out "rank 3 explained" '^rank 3: map-by numa: numa 3 of node localhost \(round-robin\) -> core 12; bind-to core -> PUs 24-25$'

# Bad input: one clear line each.
expect_error "unknown policy" "^loom: launch: unknown --map-by policy 'bogus'" loom launch -n 2 --map-by bogus true
expect_error "unknown bind" "^loom: launch: unknown --bind-to policy 'socketz'" loom launch -n 1 --bind-to socketz true
expect_error "missing binary" "^loom: launch: /nonexistent/prog: command not found$" loom launch -n 1 /nonexistent/prog
expect_error "missing binary in PATH" "^loom: launch: no-such-program-x: command not found$" loom launch -n 1 no-such-program-x
expect_error "N=0" "^loom: launch: -n must be a positive integer, not '0'$" loom launch -n 0 true
expect_error "bad ppr" "^loom: launch: bad ppr syntax 'ppr:x:core'" loom launch --map-by ppr:x:core true
expect_error "bad ppr object" "^loom: launch: bad ppr syntax 'ppr:2:board'" loom launch --map-by ppr:2:board true
expect_error "unreachable host" "^loom: launch: cannot reach host 'nosuchhost.invalid'" loom launch -n 1 --host nosuchhost.invalid:1 true
expect_error "too many ranks" "^loom: launch: 9 ranks need 9 cores .* room for 8 ranks; ask for at most 8 ranks" \
    loom launch --dry-run -n 9 --synthetic "pack:2 core:4 pu:2"
expect_error "pe too large" "^loom: launch: pe=5 is larger than every numa of node localhost \(the largest has 4 allowed cores\)" \
    loom launch --dry-run -n 1 --map-by numa:pe=5 --synthetic "pack:2 numa:2 core:4 pu:2"
expect_error "bad cpuset" "^loom: launch: bad cpuset 'x-y'" loom launch -n 1 --cpuset x-y true
expect_error "no program" "^loom: launch: which program" loom launch -n 1
expect_error "bad timeout" "^loom: launch: --timeout must be a positive number of seconds, not 'soon'" loom launch --timeout soon true

# Nothing left behind: no temporary files, no shared-memory directory of a finished
# launcher, no rank of ours.
left=$(ls -A "$TMPDIR")
[ -z "$left" ] && checks=$((checks + 1)) || fail "left in TMPDIR: $left"
for d in /dev/shm/loom.*; do
    [ -e "$d" ] || continue
    case "$shm_before" in *" ${d#/dev/shm/} "*) continue ;; esac
    pid=${d#/dev/shm/loom.}
    pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || fail "left behind by finished launcher $pid: $d"
done
[ -z "$(mine '^(loom-hello|sleep|sh)( |$)')" ] || fail "ranks left running: $(mine '^(loom-hello|sleep|sh)( |$)')"

finish
