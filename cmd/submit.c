/* SPDX-License-Identifier: MIT */
/* `loom submit`: queue a job in loomd's batch framework. */
#define _GNU_SOURCE /* asprintf */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "schedc.h"

extern char **environ;

enum {
    OPT_CPT = 'c',
    OPT_N = 'n',
    OPT_MEM = 500,
    OPT_TIME,
    OPT_ARRAY,
    OPT_AFTER,
    OPT_AFTEROK,
    OPT_AFTERANY,
    OPT_PRIO,
    OPT_RETRIES,
    OPT_MPI,
    OPT_NAME,
    OPT_SHELL,
    OPT_RANKS,
    OPT_TRACE,
};

static const struct cmd_option options[] = {
    {"ntasks", 1, OPT_N, "N", "Slots (processes, or MPI ranks with --mpi) per task"},
    {"cores-per-task", 1, OPT_CPT, "C", "Cores per slot (default 1)"},
    {"mem", 1, OPT_MEM, "M", "Memory per slot: MiB, or with K/M/G/T suffix"},
    {"time", 1, OPT_TIME, "T",
     "Time limit: seconds, MM:SS, HH:MM:SS, or with s/m/h suffix (SIGTERM, then "
     "SIGKILL)"},
    {"array", 1, OPT_ARRAY, "R",
     "Task array: 1-100, 0-99:2, 1,5,7-9; {} in args = index"},
    {"after", 1, OPT_AFTER, "J", "Start after job J started (J,K,... allowed)"},
    {"afterok", 1, OPT_AFTEROK, "J", "Start after job J completed successfully"},
    {"afterany", 1, OPT_AFTERANY, "J", "Start after job J ended, however"},
    {"priority", 1, OPT_PRIO, "P",
     "Priority among your jobs (-10000..10000, default 0)"},
    {"retries", 1, OPT_RETRIES, "N", "Run a failing task again up to N times"},
    {"mpi", 0, OPT_MPI, NULL, "Run each task as one MPI job over its slots"},
    {"ranks", 1, OPT_RANKS, "R",
     "With --mpi: start R ranks on the task's cores (default one per slot)"},
    {"trace", 1, OPT_TRACE, "PREFIX",
     "Trace the job (LOOM_TRACE=PREFIX); an --mpi task's trace is merged into "
     "PREFIX.trace"},
    {"name", 1, OPT_NAME, "NAME", "Job name shown by loom ps"},
    {"shell", 0, OPT_SHELL, NULL, "Run the command through /bin/sh -c"},
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static int parse_time (const char *s, double *out)
{
    double parts[3];
    int n = 0;
    const char *p = s;
    char *end;
    while (n < 3) {
        errno = 0;
        parts[n++] = strtod (p, &end);
        if (errno || end == p || parts[n - 1] < 0)
            return -1;
        if (*end != ':')
            break;
        p = end + 1;
    }
    double mult = 1;
    if (n == 1 && *end) {
        if (!strcmp (end, "s"))
            mult = 1;
        else if (!strcmp (end, "m"))
            mult = 60;
        else if (!strcmp (end, "h"))
            mult = 3600;
        else
            return -1;
    } else if (*end) {
        return -1;
    }
    double t = 0;
    for (int i = 0; i < n; i++)
        t = t * 60 + parts[i];
    *out = t * mult;
    return *out > 0 ? 0 : -1;
}

static int parse_mem (const char *s, long long *out)
{
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mib = v;
    switch (toupper ((unsigned char)*end)) {
    case '\0':
    case 'M':
        break;
    case 'K':
        mib = v / 1024;
        break;
    case 'G':
        mib = v * 1024;
        break;
    case 'T':
        mib = v * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (*end && end[1] && strcasecmp (end + 1, "B") && strcasecmp (end + 1, "iB"))
        return -1;
    *out = (long long)(mib + 0.999);
    return 0;
}

static int
add_deps (const struct cmd *cmd, json_t *req, const char *key, const char *list)
{
    json_t *a = json_object_get (req, key);
    if (!a) {
        a = json_array ();
        json_object_set_new (req, key, a);
    }
    char *copy = strdup (list), *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok;
         tok = strtok_r (NULL, ",", &save)) {
        uint64_t id;
        if (schedc_job_id (cmd, tok, &id, NULL, NULL)) {
            free (copy);
            return 1;
        }
        json_array_append_new (a, json_integer ((json_int_t)id));
    }
    free (copy);
    return 0;
}

static int submit_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg, *trace = NULL;
    int json = 0, shell = 0, c;
    json_t *req = json_pack ("{s:s}", "op", "submit");
    long long v;
    double t;

    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case SCHEDC_OPT_DIR:
            dir = arg;
            break;
        case SCHEDC_OPT_JSON:
            json = 1;
            break;
        case OPT_N:
        case OPT_CPT:
        case OPT_RETRIES:
        case OPT_RANKS:
        case OPT_PRIO: {
            char *end;
            errno = 0;
            v = strtoll (arg, &end, 10);
            int bad = errno || end == arg || *end;
            if (c == OPT_PRIO
                    ? (bad || v < -10000 || v > 10000)
                    : (bad || v < (c == OPT_RETRIES ? 0 : 1) || v > INT_MAX)) {
                json_decref (req);
                return cmd_error (cmd, "bad value '%s' for --%s", arg,
                                  c == OPT_N       ? "ntasks"
                                  : c == OPT_CPT   ? "cores-per-task"
                                  : c == OPT_PRIO  ? "priority"
                                  : c == OPT_RANKS ? "ranks"
                                                   : "retries");
            }
            json_object_set_new (req,
                                 c == OPT_N       ? "nslots"
                                 : c == OPT_CPT   ? "cores_per_task"
                                 : c == OPT_PRIO  ? "priority"
                                 : c == OPT_RANKS ? "ranks"
                                                  : "retries",
                                 json_integer (v));
            break;
        }
        case OPT_MEM:
            if (parse_mem (arg, &v) < 0) {
                json_decref (req);
                return cmd_error (cmd, "bad memory '%s' (e.g. 512, 512M, 4G)", arg);
            }
            json_object_set_new (req, "mem", json_integer (v));
            break;
        case OPT_TIME:
            if (parse_time (arg, &t) < 0) {
                json_decref (req);
                return cmd_error (cmd, "bad time limit '%s' (e.g. 90, 1:30, 2h)", arg);
            }
            json_object_set_new (req, "time", json_real (t));
            break;
        case OPT_ARRAY:
            json_object_set_new (req, "array", json_string (arg));
            break;
        case OPT_AFTER:
        case OPT_AFTEROK:
        case OPT_AFTERANY:
            if (add_deps (cmd, req,
                          c == OPT_AFTER     ? "after"
                          : c == OPT_AFTEROK ? "afterok"
                                             : "afterany",
                          arg)) {
                json_decref (req);
                return 1;
            }
            break;
        case OPT_MPI:
            json_object_set_new (req, "mpi", json_true ());
            break;
        case OPT_NAME:
            json_object_set_new (req, "name", json_string (arg));
            break;
        case OPT_SHELL:
            shell = 1;
            break;
        case OPT_TRACE:
            if (!*arg) {
                json_decref (req);
                return cmd_error (cmd, "--trace needs a path prefix");
            }
            trace = arg;
            break;
        default:
            json_decref (req);
            return 1;
        }
    }
    if (optind >= argc) {
        json_decref (req);
        return cmd_error (cmd, "no command (usage: loom submit [options] -- cmd args)");
    }
    json_t *av = json_array ();
    if (shell) {
        size_t len = 1;
        for (int i = optind; i < argc; i++)
            len += strlen (argv[i]) + 1;
        char *s = calloc (1, len);
        for (int i = optind; i < argc; i++) {
            strcat (s, argv[i]);
            if (i + 1 < argc)
                strcat (s, " ");
        }
        json_array_append_new (av, json_string ("/bin/sh"));
        json_array_append_new (av, json_string ("-c"));
        json_array_append_new (av, json_string (s));
        free (s);
    } else {
        for (int i = optind; i < argc; i++)
            json_array_append_new (av, json_string (argv[i]));
    }
    json_object_set_new (req, "argv", av);
    json_t *env = json_array ();
    for (char **e = environ; *e; e++)
        if (!trace || strncmp (*e, "LOOM_TRACE=", 11) != 0)
            json_array_append_new (env, json_string (*e));
    if (trace) {
        char *kv = NULL;
        if (asprintf (&kv, "LOOM_TRACE=%s", trace) < 0) {
            json_decref (env);
            json_decref (req);
            return cmd_error (cmd, "out of memory");
        }
        json_array_append_new (env, json_string (kv));
        free (kv);
    }
    json_object_set_new (req, "env", env);
    char cwd[PATH_MAX];
    if (getcwd (cwd, sizeof (cwd)))
        json_object_set_new (req, "cwd", json_string (cwd));

    json_t *r;
    if (schedc_call (cmd, dir, req, &r, NULL))
        return 1;
    if (json)
        schedc_print_json (r);
    else
        printf ("Submitted job %lld (%lld task%s)\n",
                (long long)json_integer_value (json_object_get (r, "job")),
                (long long)json_integer_value (json_object_get (r, "tasks")),
                json_integer_value (json_object_get (r, "tasks")) == 1 ? "" : "s");
    json_decref (r);
    return 0;
}

const struct cmd cmd_submit = {
    .name = "submit",
    .usage =
        "[-n N] [-c C] [--mem M] [--time T] [--array R] [--after J] [--mpi] -- cmd "
        "args",
    .summary = "Queue a job (a task, or an array of tasks) in loomd",
    .fn = submit_main,
    .options = options,
    .description =
        "The command runs as an argv array, without a shell unless --shell is given,\n"
        "as you, in the current directory, with your environment, bound to the cores\n"
        "loomd grants. In an array, {} in the arguments becomes the task's index;\n"
        "LOOM_JOB_ID, LOOM_ARRAY_INDEX and LOOM_CPUS are set. Use '--' before the\n"
        "command so its own options are not taken for loom's.",
};
