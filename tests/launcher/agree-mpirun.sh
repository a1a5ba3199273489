#!/bin/bash
# SPDX-License-Identifier: MIT
# Where Open MPI's mpirun can do the same on this machine, `loom launch` binds every
# rank where mpirun does: run loom-hello under both with the same options and compare
# the binding each rank reports (hwloc_get_cpubind). Requests mpirun refuses, loom
# refuses too.
. "$LOOM_SOURCE_DIR/tests/system/lib.sh"
export TMPDIR="$TMP"
# The test environment lets mpirun oversubscribe silently; compare defaults here.
unset OMPI_MCA_rmaps_base_oversubscribe

# Per-rank bindings of a run's stdout, sorted by rank: "0:0 1:1".
bindings () {
    sed -n 's/^rank \([0-9]*\) of [0-9]* on .*, bound to PUs \(.*\)$/\1:\2/p' "$1" |
        sort -n | tr '\n' ' '
}

agree () {
    local desc=$1 loom_opts=$2 mpirun_opts=$3
    checks=$((checks + 1))
    # shellcheck disable=SC2086
    mpirun $mpirun_opts loom-hello >"$TMP/m.out" 2>"$TMP/m.err"
    local ms=$?
    # shellcheck disable=SC2086
    loom launch $loom_opts loom-hello >"$TMP/l.out" 2>"$TMP/l.err"
    local ls=$?
    if [ $ms -ne 0 ]; then
        [ $ls -ne 0 ] || fail "$desc: mpirun refuses ($(grep -m1 -v '^-*$' "$TMP/m.err")) but loom launch ran"
        return
    fi
    [ $ls -eq 0 ] || { fail "$desc: loom launch failed: $(cat "$TMP/l.err")"; return; }
    local m l
    m=$(bindings "$TMP/m.out")
    l=$(bindings "$TMP/l.out")
    [ -n "$m" ] && [ "$m" = "$l" ] || fail "$desc: mpirun binds '$m', loom launch '$l'"
}

cores=$(loom topo --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["allowed_cores"])')
agree "1 rank" "-n 1" "-np 1"
agree "one per core" "-n $cores" "-np $cores"
agree "map-by core, bind-to core" "-n $cores --map-by core --bind-to core" "-np $cores --map-by core --bind-to core"
agree "bind-to none" "-n 2 --oversubscribe --bind-to none" "-np 2 --oversubscribe --bind-to none"
agree "numa" "-n $cores --map-by numa --bind-to numa" "-np $cores --map-by numa --bind-to numa"
agree "socket (package)" "-n $cores --map-by socket --bind-to socket" "-np $cores --map-by socket --bind-to socket"
agree "l3cache" "-n $cores --map-by l3cache --bind-to l3cache" "-np $cores --map-by l3cache --bind-to l3cache"
agree "ppr:1:core" "--map-by ppr:1:core" "--map-by ppr:1:core"
agree "rank-by core" "-n $cores --rank-by core" "-np $cores --rank-by core"
agree "cpuset of the last PU" "-n 1 --cpuset $((cores - 1))" "-np 1 --cpu-set $((cores - 1)) --bind-to core"
agree "pe=2 by slot" "-n 1 --map-by slot:pe=$cores" "-np 1 --map-by slot:PE=$cores"
agree "pe larger than a core" "-n 1 --map-by core:pe=2" "-np 1 --map-by core:PE=2"
agree "more ranks than cores" "-n $((cores + 1))" "-np $((cores + 1))"

finish
