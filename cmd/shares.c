/* SPDX-License-Identifier: MIT */
/* `loom shares`: each framework's and user's dominant share, demand and usage. */
#include <stdio.h>

#include "schedc.h"

static const struct cmd_option options[] = {
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int shares_main (const struct cmd *cmd, int argc, char **argv)
{
    json_t *r;
    if (schedc_query (cmd, argc, argv, "shares", &r))
        return 1;
    if (!r)
        return 0; /* --json: printed */
    json_t *tot = json_object_get (r, "total"), *fr = json_object_get (r, "free");
    printf ("Total: %lld cores, %lld MiB; free: %lld cores, %lld MiB\n",
            (long long)json_integer_value (json_object_get (tot, "cores")),
            (long long)json_integer_value (json_object_get (tot, "mem")),
            (long long)json_integer_value (json_object_get (fr, "cores")),
            (long long)json_integer_value (json_object_get (fr, "mem")));
    printf ("%-16s %-7s %6s %7s %6s %9s %7s %7s %11s\n", "FRAMEWORK/USER", "KIND",
            "WEIGHT", "SHARE", "CORES", "MEM(MiB)", "DEMAND", "D.CORES", "CORE-SEC");
    size_t i, k;
    json_t *f, *u;
    json_array_foreach (json_object_get (r, "frameworks"), i, f)
    {
        json_t *used = json_object_get (f, "used"),
               *dem = json_object_get (f, "demand");
        printf ("%-16s %-7s %6.2f %7.4f %6lld %9lld %7lld %7lld %11.1f%s\n",
                json_string_value (json_object_get (f, "name")),
                json_string_value (json_object_get (f, "kind")),
                json_real_value (json_object_get (f, "weight")),
                json_real_value (json_object_get (f, "share")),
                (long long)json_integer_value (json_object_get (used, "cores")),
                (long long)json_integer_value (json_object_get (used, "mem")),
                (long long)json_integer_value (json_object_get (dem, "tasks")),
                (long long)json_integer_value (json_object_get (dem, "cores")),
                json_number_value (json_object_get (f, "usage_core_sec")),
                json_is_true (json_object_get (f, "active")) ? "" : " (gone)");
        json_array_foreach (json_object_get (f, "users"), k, u)
        {
            json_t *uu = json_object_get (u, "used"),
                   *ud = json_object_get (u, "demand");
            printf ("  %-14s %-7s %6.2f %7.4f %6lld %9lld %7lld %7lld %11.1f\n",
                    json_string_value (json_object_get (u, "user")), "user",
                    json_real_value (json_object_get (u, "weight")),
                    json_real_value (json_object_get (u, "share")),
                    (long long)json_integer_value (json_object_get (uu, "cores")),
                    (long long)json_integer_value (json_object_get (uu, "mem")),
                    (long long)json_integer_value (json_object_get (ud, "tasks")),
                    (long long)json_integer_value (json_object_get (ud, "cores")),
                    json_number_value (json_object_get (u, "usage_core_sec")));
        }
    }
    json_decref (r);
    return 0;
}

const struct cmd cmd_shares = {
    .name = "shares",
    .usage = "[--json]",
    .summary = "DRF view: each framework's and user's dominant share, demand and usage",
    .fn = shares_main,
    .options = options,
    .description =
        "SHARE is the weighted dominant share (the larger of cores and memory used "
        "over\n"
        "the total, divided by the weight); DEMAND counts queued tasks; CORE-SEC is\n"
        "the cumulative usage recorded since the state directory was created.",
};
