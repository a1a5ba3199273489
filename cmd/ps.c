/* SPDX-License-Identifier: MIT */
/* `loom ps`: jobs in loomd, with filters. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "schedc.h"

enum { OPT_ALL = 'a', OPT_USER = 'u', OPT_STATE = 's', OPT_TASKS = 't' };

static const struct cmd_option options[] = {
    {"all", 0, OPT_ALL, NULL, "Include jobs that ended"},
    {"user", 1, OPT_USER, "USER", "Only jobs of USER (name or uid)"},
    {"state", 1, OPT_STATE, "STATE",
     "Only jobs in STATE (waiting pending running completed failed cancelled timeout "
     "lost)"},
    {"tasks", 0, OPT_TASKS, NULL, "List each task (index, state, attempt, cpus, exit)"},
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static void print_counts (json_t *counts, char *buf, size_t len)
{
    static const char *keys[] = {"waiting", "pending",   "running", "completed",
                                 "failed",  "cancelled", "timeout", "lost"};
    static const char *abbr[] = {"W", "P", "R", "C", "F", "X", "T", "L"};
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 8; i++) {
        json_int_t v = json_integer_value (json_object_get (counts, keys[i]));
        if (v && n < len)
            n += (size_t)snprintf (buf + n, len - n, "%s%s:%lld", n ? " " : "", abbr[i],
                                   (long long)v);
    }
}

static int ps_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg;
    int json = 0, tasks = 0, c;
    json_t *req = json_pack ("{s:s}", "op", "ps");
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case SCHEDC_OPT_DIR:
            dir = arg;
            break;
        case SCHEDC_OPT_JSON:
            json = 1;
            break;
        case OPT_ALL:
            json_object_set_new (req, "all", json_true ());
            break;
        case OPT_TASKS:
            tasks = 1;
            json_object_set_new (req, "tasks", json_true ());
            break;
        case OPT_STATE:
            json_object_set_new (req, "state", json_string (arg));
            break;
        case OPT_USER: {
            struct passwd *pw = getpwnam (arg);
            char *end;
            long uid = strtol (arg, &end, 10);
            if (pw)
                uid = pw->pw_uid;
            else if (end == arg || *end || uid < 0) {
                json_decref (req);
                return cmd_error (cmd, "unknown user '%s'", arg);
            }
            json_object_set_new (req, "uid", json_integer (uid));
            break;
        }
        default:
            json_decref (req);
            return 1;
        }
    }
    if (optind < argc) {
        json_t *ids = json_array ();
        for (int i = optind; i < argc; i++) {
            uint64_t id;
            if (schedc_job_id (cmd, argv[i], &id, NULL, NULL)) {
                json_decref (ids);
                json_decref (req);
                return 1;
            }
            json_array_append_new (ids, json_integer ((json_int_t)id));
        }
        json_object_set_new (req, "jobs", ids);
    }
    json_t *r;
    if (schedc_call (cmd, dir, req, &r, NULL))
        return 1;
    if (json) {
        schedc_print_json (r);
        json_decref (r);
        return 0;
    }
    printf ("%-7s %-10s %-8s %-9s %-6s %-5s %-24s %s\n", "JOBID", "USER", "FW", "STATE",
            "TASKS", "CORES", "COUNTS", "COMMAND");
    size_t i;
    json_t *j;
    json_array_foreach (json_object_get (r, "jobs"), i, j)
    {
        char counts[128];
        print_counts (json_object_get (j, "counts"), counts, sizeof (counts));
        json_int_t cores = json_integer_value (json_object_get (j, "nslots"))
                           * json_integer_value (json_object_get (j, "cores_per_task"));
        char cmdline[256] = "";
        size_t n = 0, k;
        json_t *a;
        json_array_foreach (json_object_get (j, "argv"), k, a)
        {
            if (n < sizeof (cmdline))
                n += (size_t)snprintf (cmdline + n, sizeof (cmdline) - n, "%s%s",
                                       k ? " " : "", json_string_value (a));
        }
        printf ("%-7lld %-10s %-8s %-9s %-6lld %-5lld %-24s %s\n",
                (long long)json_integer_value (json_object_get (j, "id")),
                json_string_value (json_object_get (j, "user")),
                json_string_value (json_object_get (j, "framework")),
                json_string_value (json_object_get (j, "state")),
                (long long)json_integer_value (json_object_get (j, "ntasks")),
                (long long)cores, counts, cmdline);
        if (!tasks)
            continue;
        json_t *t;
        json_array_foreach (json_object_get (j, "tasks"), k, t)
        {
            printf ("  %lld.%-6lld %-9s attempt %lld",
                    (long long)json_integer_value (json_object_get (j, "id")),
                    (long long)json_integer_value (json_object_get (t, "index")),
                    json_string_value (json_object_get (t, "state")),
                    (long long)json_integer_value (json_object_get (t, "attempt")));
            if (json_object_get (t, "cpus"))
                printf (" on %s cpus %s",
                        json_string_value (json_object_get (t, "node")),
                        json_string_value (json_object_get (t, "cpus")));
            if (json_object_get (t, "exit_code")) {
                json_int_t sig = json_integer_value (json_object_get (t, "signal"));
                if (sig)
                    printf (" signal %lld", (long long)sig);
                else
                    printf (" exit %lld", (long long)json_integer_value (
                                              json_object_get (t, "exit_code")));
                printf (
                    " %.3fs %lld KiB", json_real_value (json_object_get (t, "run_sec")),
                    (long long)json_integer_value (json_object_get (t, "max_rss_kib")));
            }
            printf ("\n");
        }
    }
    json_decref (r);
    return 0;
}

const struct cmd cmd_ps = {
    .name = "ps",
    .usage = "[--all] [--user USER] [--state STATE] [--tasks] [--json] [JOB...]",
    .summary = "List jobs in loomd: state, task counts, cores, command",
    .fn = ps_main,
    .options = options,
    .description = "Without --all or --state, jobs that ended are not shown. COUNTS "
                   "abbreviates task states:\nW waiting, P pending, R running, C "
                   "completed, F failed, X cancelled, T timeout, L lost.",
};
