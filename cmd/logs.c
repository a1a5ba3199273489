/* SPDX-License-Identifier: MIT */
/* `loom logs`: a task's stdout or stderr, as loomd captured it. loomd checks that
 * the caller owns the job (or is root) and passes the open log file over its socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schedc.h"

enum { OPT_ERR = 'e' };

static const struct cmd_option options[] = {
    {"err", 0, OPT_ERR, NULL, "Show stderr instead of stdout"},
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int logs_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg;
    int json = 0, err = 0, c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == SCHEDC_OPT_DIR)
            dir = arg;
        else if (c == SCHEDC_OPT_JSON)
            json = 1;
        else if (c == OPT_ERR)
            err = 1;
        else
            return 1;
    }
    if (optind + 1 != argc)
        return cmd_error (cmd, "give one job (usage: loom logs JOB[.INDEX])");
    uint64_t job;
    int64_t index = 0;
    int has_index = 0;
    if (schedc_job_id (cmd, argv[optind], &job, &index, &has_index))
        return 1;
    json_t *req = json_pack ("{s:s, s:I, s:s}", "op", "logs", "job", (json_int_t)job,
                             "stream", err ? "err" : "out");
    if (has_index)
        json_object_set_new (req, "index", json_integer (index));
    json_t *r;
    int fd = -1;
    if (schedc_call (cmd, dir, req, &r, &fd))
        return 1;
    if (fd < 0) {
        json_decref (r);
        return cmd_error (cmd, "loomd sent no log file");
    }
    char *data = NULL;
    size_t len = 0;
    FILE *mem = json ? open_memstream (&data, &len) : stdout;
    char buf[65536];
    ssize_t n;
    while ((n = read (fd, buf, sizeof (buf))) > 0)
        fwrite (buf, 1, (size_t)n, mem);
    close (fd);
    if (json) {
        fclose (mem);
        json_object_set_new (r, "stream", json_string (err ? "err" : "out"));
        json_t *s = json_stringn (data, len);
        if (!s) {
            free (data);
            json_decref (r);
            return cmd_error (
                cmd, "job %llu: the log is not UTF-8 text; use it without --json",
                (unsigned long long)job);
        }
        json_object_set_new (r, "data", s);
        schedc_print_json (r);
        free (data);
    }
    json_decref (r);
    return 0;
}

const struct cmd cmd_logs = {
    .name = "logs",
    .usage = "[--err] [--json] JOB[.INDEX]",
    .summary = "Show a task's captured stdout (or stderr); owner or root only",
    .fn = logs_main,
    .options = options,
    .description = "JOB alone shows the job's first task; JOB.INDEX an array task.",
};
