/* SPDX-License-Identifier: MIT */
/* `loom topo`: what this node (or another, described) is made of. */
#include <stdio.h>
#include <stdlib.h>

#include <loom/topo.h>

#include "cmd.h"

enum { OPT_JSON = 256 };

static const struct cmd_option options[] = {
    {"synthetic", 1, 's', "DESC",
     "Show an hwloc synthetic topology, e.g. \"pack:2 numa:2 core:4 pu:2\""},
    {"xml", 1, 'x', "FILE",
     "Show the topology saved in an hwloc XML file (lstopo out.xml)"},
    {"cpuset", 1, 'c', "LIST",
     "Restrict the allowed PUs to LIST (e.g. 0-3,8), as a cgroup would"},
    {"json", 0, OPT_JSON, NULL, "Print a JSON object for scripts"},
    {NULL, 0, 0, NULL, NULL},
};

static int topo_main (const struct cmd *cmd, int argc, char **argv)
{
    loom_topo_source_t source = LOOM_TOPO_LOCAL;
    const char *spec = NULL, *cpuset = NULL, *arg;
    int json = 0, c;

    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 's':
        case 'x':
            if (spec)
                return cmd_error (cmd, "give only one of --synthetic and --xml");
            source = c == 's' ? LOOM_TOPO_SYNTHETIC : LOOM_TOPO_XML;
            spec = arg;
            break;
        case 'c':
            cpuset = arg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            return 1;
        }
    }
    if (optind < argc)
        return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);

    loom_error_t error;
    loom_topo_t *topo = loom_topo_load (source, spec, &error);
    if (!topo)
        return cmd_error (cmd, "%s", error.text);
    if (cpuset && loom_topo_restrict (topo, cpuset, &error) < 0) {
        loom_topo_destroy (topo);
        return cmd_error (cmd, "%s", error.text);
    }
    char *out = json ? loom_topo_format_json (topo) : loom_topo_format_text (topo);
    loom_topo_destroy (topo);
    if (!out)
        return cmd_error (cmd, "out of memory");
    fputs (out, stdout);
    if (json)
        fputc ('\n', stdout);
    free (out);
    return 0;
}

const struct cmd cmd_topo = {
    .name = "topo",
    .usage = "[--synthetic DESC | --xml FILE] [--cpuset LIST] [--json]",
    .summary = "Show a node's topology: packages, NUMA nodes, L3 caches, cores, PUs",
    .fn = topo_main,
    .options = options,
    .description =
        "Without options, shows this machine as hwloc sees it, with the cpuset this\n"
        "process may use (a cgroup or a scheduler may allow fewer PUs than exist).",
};
