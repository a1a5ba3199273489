/* SPDX-License-Identifier: MIT */
/* Talking to loomd from the CLI (see schedc.h). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <loom/sched.h>

#include "schedc.h"

int schedc_call (
    const struct cmd *cmd, const char *dir, json_t *req, json_t **reply, int *fd)
{
    loom_error_t error;
    char *text = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    if (!text)
        return cmd_error (cmd, "out of memory");
    loom_sched_t *h = loom_sched_connect (dir, &error);
    if (!h) {
        free (text);
        return cmd_error (cmd, "%s", error.text);
    }
    char *r = loom_sched_rpc (h, text, fd, &error);
    free (text);
    loom_sched_close (h);
    if (!r)
        return cmd_error (cmd, "%s", error.text);
    *reply = json_loads (r, 0, NULL);
    free (r);
    if (!*reply)
        return cmd_error (cmd, "loomd sent a malformed reply");
    return 0;
}

int schedc_query (
    const struct cmd *cmd, int argc, char **argv, const char *op, json_t **reply)
{
    const char *dir = NULL, *arg;
    int json = 0, c;
    *reply = NULL;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == SCHEDC_OPT_DIR)
            dir = arg;
        else if (c == SCHEDC_OPT_JSON)
            json = 1;
        else
            return 1;
    }
    if (optind < argc)
        return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);
    json_t *r;
    if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", op), &r, NULL))
        return 1;
    if (json) {
        schedc_print_json (r);
        json_decref (r);
        return 0;
    }
    *reply = r;
    return 0;
}

int schedc_print_json (json_t *o)
{
    json_object_del (o, "ok");
    json_dumpf (o, stdout, JSON_INDENT (2));
    fputc ('\n', stdout);
    return 0;
}

int schedc_job_id (
    const struct cmd *cmd, const char *s, uint64_t *job, int64_t *index, int *has_index)
{
    char *end;
    errno = 0;
    unsigned long long j = strtoull (s, &end, 10);
    if (errno || end == s || j == 0 || s[0] == '-')
        return cmd_error (cmd, "bad job id '%s' (expected a number, or JOB.INDEX)", s);
    *job = j;
    if (has_index)
        *has_index = 0;
    if (*end == '.' && index && has_index) {
        char *e2;
        long long x = strtoll (end + 1, &e2, 10);
        if (e2 == end + 1 || *e2)
            return cmd_error (cmd, "bad job id '%s' (expected a number, or JOB.INDEX)",
                              s);
        *index = x;
        *has_index = 1;
        return 0;
    }
    if (*end)
        return cmd_error (cmd, "bad job id '%s' (expected a number%s)", s,
                          index ? ", or JOB.INDEX" : "");
    return 0;
}
