/* SPDX-License-Identifier: MIT */
/* `loom cancel`: cancel jobs (owner or root only). */
#include <stdio.h>

#include <unistd.h>

#include "schedc.h"

static const struct cmd_option options[] = {
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int cancel_main (const struct cmd *cmd, int argc, char **argv)
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
    if (optind >= argc)
        return cmd_error (cmd, "which job? (usage: loom cancel JOB...)");
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
    if (schedc_call (cmd, dir, json_pack ("{s:s, s:o}", "op", "cancel", "jobs", ids),
                     &r, NULL))
        return 1;
    if (json) {
        schedc_print_json (r);
    } else {
        size_t i;
        json_t *j;
        json_array_foreach (json_object_get (r, "cancelled"), i, j)
            printf ("Cancelled job %lld (%lld task%s)\n",
                    (long long)json_integer_value (json_object_get (j, "id")),
                    (long long)json_integer_value (json_object_get (j, "tasks")),
                    json_integer_value (json_object_get (j, "tasks")) == 1 ? "" : "s");
    }
    json_decref (r);
    return 0;
}

const struct cmd cmd_cancel = {
    .name = "cancel",
    .usage = "[--json] JOB...",
    .summary = "Cancel jobs: queued tasks end, running ones get SIGTERM then SIGKILL",
    .fn = cancel_main,
    .options = options,
};
