/* SPDX-License-Identifier: MIT */
/* `loom wait`: block until jobs end; exit 0 only if all completed. */
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "schedc.h"

static const struct cmd_option options[] = {
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int wait_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg;
    int json = 0, c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == SCHEDC_OPT_DIR)
            dir = arg;
        else if (c == SCHEDC_OPT_JSON)
            json = 1;
        else
            return 1;
    }
    json_t *ids = json_array ();
    for (int i = optind; i < argc; i++) {
        uint64_t id;
        if (schedc_job_id (cmd, argv[i], &id, NULL, NULL)) {
            json_decref (ids);
            return 1;
        }
        json_array_append_new (ids, json_integer ((json_int_t)id));
    }
    json_t *r;
    if (schedc_call (cmd, dir, json_pack ("{s:s, s:o}", "op", "wait", "jobs", ids), &r,
                     NULL))
        return 1;
    int bad = 0;
    size_t i;
    json_t *j;
    json_array_foreach (json_object_get (r, "jobs"), i, j)
    {
        const char *state = json_string_value (json_object_get (j, "state"));
        if (strcmp (state, "completed") != 0 && !bad) {
            bad = 1;
            json_t *counts = json_object_get (j, "counts");
            if (!json) {
                json_int_t n = json_integer_value (json_object_get (j, "ntasks"));
                json_int_t ok =
                    json_integer_value (json_object_get (counts, "completed"));
                cmd_error (cmd, "job %lld %s (%lld of %lld tasks did not complete)",
                           (long long)json_integer_value (json_object_get (j, "id")),
                           state, (long long)(n - ok), (long long)n);
            }
        }
    }
    if (json)
        schedc_print_json (r);
    else if (!bad)
        printf ("%zu job%s completed\n", json_array_size (json_object_get (r, "jobs")),
                json_array_size (json_object_get (r, "jobs")) == 1 ? "" : "s");
    json_decref (r);
    return bad;
}

const struct cmd cmd_wait = {
    .name = "wait",
    .usage = "[--json] [JOB...]",
    .summary =
        "Wait until jobs (default: all of yours) end; fails if one did not complete",
    .fn = wait_main,
    .options = options,
};
