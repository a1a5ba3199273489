#!/bin/bash
# SPDX-License-Identifier: MIT
# The loom front end: help, version, topo, run, external subcommands and bad input.
. "$(dirname "$0")/lib.sh"

expect_ok "loom --help" loom --help
expect_out "help lists topo" '^  topo +Show a node'
expect_out "help lists run" '^  run +Run the Loom app'
expect_ok "loom help topo" loom help topo
expect_out "generated topo help" -- '--synthetic=DESC'
expect_ok "loom topo --help" loom topo --help
expect_out "topo --help" '^Usage: loom topo'

expect_ok "loom version" loom version
expect_out "version line" '^loom [0-9]+\.[0-9]+\.[0-9]+$'
expect_ok "loom version --json" loom version --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["loom"] and d["hwloc"].startswith("2.")' "$TMP/out" \
    || fail "version --json is not the expected JSON"

expect_ok "loom topo" loom topo
expect_out "local topology header" '^Topology: this machine'
expect_out "allowed cpuset shown" 'allowed cpuset: '
expect_ok "loom topo --synthetic" loom topo --synthetic "pack:2 numa:2 l3:2 core:4 pu:2"
expect_out "synthetic counts" '2 packages, 4 NUMA nodes, 8 L3 caches, 32 cores, 64 PUs'
expect_out "package 1 line" '^Package 1: PUs 32-63$'
expect_out "last L3" '^  L3 7: .*cores 28-31, PUs 56-63$'
expect_ok "topo --cpuset" loom topo --synthetic "pack:1 core:4 pu:2" --cpuset 0-2
expect_out "restricted cpuset" 'allowed cpuset: 0-2 \(3 of 8 PUs, 2 of 4 cores\)'
expect_ok "loom topo --json" loom topo --json --synthetic "pack:1 core:2 pu:1"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["cores"]==2 and d["pus"]==2, d' "$TMP/out" \
    || fail "topo --json counts"

lstopo-no-graphics --of xml "$TMP/this.xml" 2>/dev/null || hwloc-gather-topology "$TMP/this" >/dev/null 2>&1
if [ -s "$TMP/this.xml" ]; then
    expect_ok "topo --xml" loom topo --xml "$TMP/this.xml"
    expect_out "xml source" "^Topology: XML $TMP/this.xml"
fi

# Bad input: one line naming the problem, non-zero exit.
expect_error "bad option" "^loom: topo: unknown option '--frobnicate'" loom topo --frobnicate
expect_error "bad short option" "^loom: topo: unknown option '-q'" loom topo -q
expect_error "missing value" "^loom: topo: option '--synthetic' needs a value" loom topo --synthetic
expect_error "bad synthetic" "^loom: topo: bad synthetic topology 'pack:two'" loom topo --synthetic pack:two
expect_error "missing XML" "^loom: topo: cannot read topology XML '/nonexistent.xml': No such file" loom topo --xml /nonexistent.xml
echo "<junk/>" >"$TMP/junk.xml"
expect_error "garbage XML" "not a valid hwloc topology XML|cannot load topology" loom topo --xml "$TMP/junk.xml"
expect_error "bad cpuset" "^loom: topo: cpuset '99' names PUs outside" loom topo --synthetic "core:2 pu:1" --cpuset 99
expect_error "both sources" "only one of --synthetic and --xml" loom topo --synthetic core:2 --xml x
expect_error "unknown command" "^loom: 'nosuchcmd' is not a loom command" loom nosuchcmd
expect_error "unknown top option" "^loom: unknown option '--bogus'" loom --bogus
expect_error "help for unknown" "^loom: help: no command 'nosuch'" loom help nosuch
expect_error "run without app" "^loom: run: which app" loom run
expect_error "run unknown app" "^loom: run: no app 'nosuchapp'" loom run nosuchapp -n 2
expect_error "run bad -n" "^loom: run: -n must be a positive integer, not '0'" loom run hello -n 0
expect_error "run bad -n text" "^loom: run: -n must be a positive integer, not 'two'" loom run hello -n two

# External subcommands: loom-<name> on PATH runs as 'loom <name>' with its arguments.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\necho "external: $*"\n' >"$TMP/bin/loom-greet"
chmod +x "$TMP/bin/loom-greet"
PATH="$TMP/bin:$PATH" expect_ok "external subcommand" loom greet a "b c"
expect_out "external args" '^external: a b c$'

# loom run starts loom-hello on N ranks (mpirun on one node).
for n in 1 2 3; do
    expect_ok "loom run hello -n $n" loom run hello -n $n
    expect_out "hello $n ranks" "^hello: $n ranks, allreduce and ring exchange correct$"
    [ "$(grep -c '^rank ' "$TMP/out")" -eq $n ] || fail "hello -n $n: expected $n rank lines"
done

finish
