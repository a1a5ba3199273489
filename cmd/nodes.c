/* SPDX-License-Identifier: MIT */
/* `loom nodes`: the nodes loomd schedules on. */
#include <stdio.h>

#include "schedc.h"

static const struct cmd_option options[] = {
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int nodes_main (const struct cmd *cmd, int argc, char **argv)
{
    json_t *r;
    if (schedc_query (cmd, argc, argv, "nodes", &r))
        return 1;
    if (!r)
        return 0; /* --json: printed */
    printf ("%-20s %-5s %-5s %6s %6s %10s %10s %s\n", "NODE", "ROLE", "STATE", "CORES",
            "FREE", "MEM(MiB)", "FREE(MiB)", "CPUSET");
    size_t i;
    json_t *n;
    json_array_foreach (json_object_get (r, "nodes"), i, n)
        printf ("%-20s %-5s %-5s %6lld %6lld %10lld %10lld %s\n",
                json_string_value (json_object_get (n, "name")),
                json_string_value (json_object_get (n, "role")),
                json_string_value (json_object_get (n, "state")),
                (long long)json_integer_value (json_object_get (n, "cores")),
                (long long)json_integer_value (json_object_get (n, "free_cores")),
                (long long)json_integer_value (json_object_get (n, "mem")),
                (long long)json_integer_value (json_object_get (n, "free_mem")),
                json_string_value (json_object_get (n, "cpuset")));
    json_decref (r);
    return 0;
}

const struct cmd cmd_nodes = {
    .name = "nodes",
    .usage = "[--json]",
    .summary = "List the nodes loomd schedules on: cores and memory, total and free",
    .fn = nodes_main,
    .options = options,
};
