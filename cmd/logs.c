/* SPDX-License-Identifier: MIT */
/* `loom logs`: what a task wrote, as loomd captured it. loomd checks that the caller
 * owns the job (or is root) and passes the open log file over its socket; filtering
 * happens here, so a large log never holds up loomd.
 *
 * An --mpi task has a job log (sched/loomd/joblog.c): every line stamped with its time
 * and rank, "2026-12-07T19:40:01.123Z rank 2 out: text", plus Loom's own lines
 * ("... rank 2 loom: exited ...", "... loomd: task 7.0 started ..."). Other tasks have
 * their raw stdout and stderr files (their slots share one pipe: no rank, no time).
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "schedc.h"

enum {
    OPT_ERR = 'e',
    OPT_ALL = 'a',
    OPT_RANK = 'r',
    OPT_GREP = 'g',
    OPT_PREFIX = 'p',
    OPT_FOLLOW = 'f'
};

static const struct cmd_option options[] = {
    {"err", 0, OPT_ERR, NULL, "Show stderr instead of stdout"},
    {"all", 0, OPT_ALL, NULL,
     "Show everything: stdout, stderr and Loom's lines, each with time, rank, stream"},
    {"rank", 1, OPT_RANK, "R", "Only rank R's lines (an --mpi task)"},
    {"grep", 1, OPT_GREP, "PATTERN",
     "Only lines matching PATTERN (extended regular expression, as grep -E)"},
    {"prefix", 0, OPT_PREFIX, NULL, "Print each line's time, rank and stream"},
    {"follow", 0, OPT_FOLLOW, NULL,
     "Keep printing what a running task writes, on any node, until it ends"},
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

enum { S_OUT = 1, S_ERR = 2, S_LOOM = 3 };

struct filter {
    int all;    /* every stream */
    int stream; /* S_OUT or S_ERR when not all */
    int rank;   /* -1: any */
    int prefix;
    regex_t *re;
};

/* One line of a job log, split in place: "TIME rank R STREAM: text" or
 * "TIME SOURCE: text" (SOURCE is loomd). Returns 0, or -1 for a line of another form.
 */
struct tagged {
    int rank; /* -1: not a rank's line */
    int stream;
    char *text;
};

static int parse_tagged (char *line, struct tagged *tg)
{
    /* 2026-12-07T19:40:01.123Z is 24 characters. */
    if (strlen (line) < 26 || line[24] != ' ' || line[23] != 'Z')
        return -1;
    char *p = line + 25, *colon;
    tg->rank = -1;
    tg->stream = S_LOOM;
    if (strncmp (p, "rank ", 5) == 0) {
        char *end;
        long r = strtol (p + 5, &end, 10);
        if (end == p + 5 || *end != ' ' || r < 0)
            return -1;
        tg->rank = (int)r;
        p = end + 1;
        if (strncmp (p, "out: ", 5) == 0)
            tg->stream = S_OUT;
        else if (strncmp (p, "err: ", 5) == 0)
            tg->stream = S_ERR;
    }
    if (!(colon = strstr (p, ": ")))
        return -1;
    tg->text = colon + 2;
    return 0;
}

static int matches (const struct filter *f, const char *text)
{
    return !f->re || regexec (f->re, text, 0, NULL, 0) == 0;
}

/* Print the lines of a job log that pass 'f'. */
static void show_tagged (FILE *in, FILE *out, const struct filter *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline (&line, &cap, in)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        char *whole = strdup (line);
        struct tagged tg;
        if (!whole)
            break;
        if (parse_tagged (line, &tg) == 0 && (f->all || tg.stream == f->stream)
            && (f->rank < 0 || tg.rank == f->rank) && matches (f, tg.text))
            fprintf (out, "%s\n", f->prefix ? whole : tg.text);
        free (whole);
    }
    free (line);
}

/* Print a raw stdout or stderr file; with a pattern or prefix, line by line. */
static void show_raw (FILE *in, FILE *out, const struct filter *f, int stream)
{
    if (!f->re && !f->prefix) {
        char buf[65536];
        size_t n;
        while ((n = fread (buf, 1, sizeof (buf), in)) > 0)
            fwrite (buf, 1, n, out);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline (&line, &cap, in)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (matches (f, line))
            fprintf (out, "%s%s\n",
                     !f->prefix        ? ""
                     : stream == S_ERR ? "err: "
                                       : "out: ",
                     line);
    }
    free (line);
}

/* --follow given: loomd answers for a task that has not started yet too. */
static int following;

/* Ask loomd for a task's log. Returns 0 with *reply and *fd, or 1 after one line. */
static int fetch (const struct cmd *cmd,
                  const char *dir,
                  uint64_t job,
                  int64_t index,
                  int has_index,
                  int err,
                  json_t **reply,
                  int *fd)
{
    json_t *req =
        json_pack ("{s:s, s:I, s:s, s:b}", "op", "logs", "job", (json_int_t)job,
                   "stream", err ? "err" : "out", "follow", following);
    if (has_index)
        json_object_set_new (req, "index", json_integer (index));
    *fd = -1;
    if (schedc_call (cmd, dir, req, reply, fd))
        return 1;
    if (*fd < 0) {
        json_decref (*reply);
        return cmd_error (cmd, "loomd sent no log file");
    }
    return 0;
}

/* --follow: what the task wrote so far, then what it writes, until it ends. Each
 * round asks loomd again (a fresh descriptor, and whether the task still runs: an
 * agent's output reaches the head's file while the task runs) and reads on from where
 * the last round stopped. Lines are printed whole while more may come.
 */
static int follow (const struct cmd *cmd,
                   const char *dir,
                   uint64_t job,
                   int64_t index,
                   int has_index,
                   const struct filter *f)
{
    off_t done = 0;
    int was_tagged = -1;
    char *buf = NULL;
    size_t cap = 0;
    for (;;) {
        json_t *r;
        int fd;
        if (fetch (cmd, dir, job, index, has_index, f->stream == S_ERR, &r, &fd)) {
            free (buf);
            return 1;
        }
        int running = json_is_true (json_object_get (r, "running"));
        const char *format = json_string_value (json_object_get (r, "format"));
        int tagged = format && strcmp (format, "tagged") == 0;
        json_decref (r);
        if (tagged != was_tagged) /* the job log appeared: a file of its own */
            done = 0;
        was_tagged = tagged;
        struct stat st;
        size_t len = 0;
        int more = 0; /* a large log is read 4 MiB at a time */
        if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_size > done) {
            size_t want = (size_t)(st.st_size - done);
            if (want > (4u << 20)) {
                want = 4u << 20;
                more = 1;
            }
            if (want > cap) {
                char *b = realloc (buf, want);
                if (!b) {
                    close (fd);
                    free (buf);
                    return cmd_error (cmd, "out of memory");
                }
                buf = b;
                cap = want;
            }
            while (len < want) {
                ssize_t n = pread (fd, buf + len, want - len, done + (off_t)len);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                len += (size_t)n;
            }
        }
        close (fd);
        size_t use = len;
        if ((running || more) && (tagged || f->re || f->prefix)) { /* whole lines */
            while (use > 0 && buf[use - 1] != '\n')
                use--;
            if (use == 0 && more)
                use = len; /* a 4 MiB line: in pieces */
        }
        if (use > 0) {
            FILE *in = fmemopen (buf, use, "r");
            if (!in) {
                free (buf);
                return cmd_error (cmd, "%s", strerror (errno));
            }
            if (tagged)
                show_tagged (in, stdout, f);
            else
                show_raw (in, stdout, f, f->stream);
            fclose (in);
            done += (off_t)use;
            fflush (stdout);
        }
        if (more)
            continue;
        if (!running) {
            free (buf);
            return 0;
        }
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep (&ts, NULL);
    }
}

static int logs_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg, *pattern = NULL;
    int json = 0, c;
    struct filter f = {.stream = S_OUT, .rank = -1};
    regex_t re;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == SCHEDC_OPT_DIR) {
            dir = arg;
        } else if (c == SCHEDC_OPT_JSON) {
            json = 1;
        } else if (c == OPT_ERR) {
            f.stream = S_ERR;
        } else if (c == OPT_ALL) {
            f.all = f.prefix = 1;
        } else if (c == OPT_FOLLOW) {
            following = 1;
        } else if (c == OPT_PREFIX) {
            f.prefix = 1;
        } else if (c == OPT_GREP) {
            pattern = arg;
        } else if (c == OPT_RANK) {
            char *end;
            errno = 0;
            long r = strtol (arg, &end, 10);
            if (errno || end == arg || *end || r < 0 || r > 1000000)
                return cmd_error (cmd, "bad rank '%s' (expected a number from 0)", arg);
            f.rank = (int)r;
        } else {
            return 1;
        }
    }
    if (optind + 1 != argc)
        return cmd_error (cmd, "give one job (usage: loom logs JOB[.INDEX])");
    if (f.all && f.stream == S_ERR)
        return cmd_error (cmd, "give --err or --all, not both");
    uint64_t job;
    int64_t index = 0;
    int has_index = 0;
    if (schedc_job_id (cmd, argv[optind], &job, &index, &has_index))
        return 1;
    if (pattern) {
        int rc = regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror (rc, &re, why, sizeof (why));
            return cmd_error (cmd, "bad --grep pattern '%s': %s", pattern, why);
        }
        f.re = &re;
    }
    json_t *r = NULL;
    int fd = -1, rc = 1;
    char *data = NULL;
    size_t len = 0;
    FILE *mem = NULL, *in = NULL;
    if (fetch (cmd, dir, job, index, has_index, f.stream == S_ERR, &r, &fd))
        goto out;
    const char *format = json_string_value (json_object_get (r, "format"));
    int tagged = format && strcmp (format, "tagged") == 0;
    json_int_t ranks = json_integer_value (json_object_get (r, "ranks"));
    json_int_t tindex = json_integer_value (json_object_get (r, "index"));
    int mpi = json_is_true (json_object_get (r, "mpi"));
    if (f.rank >= 0 && !tagged && !(following && mpi)) {
        cmd_error (cmd,
                   "job %llu task %lld is not an MPI task (--mpi): its output has no "
                   "ranks",
                   (unsigned long long)job, (long long)tindex);
        goto out;
    }
    if (f.rank >= 0 && f.rank >= ranks) {
        cmd_error (cmd, "job %llu has %lld ranks (0-%lld): no rank %d",
                   (unsigned long long)job, (long long)ranks, (long long)ranks - 1,
                   f.rank);
        goto out;
    }
    if (following) {
        if (json) {
            cmd_error (cmd, "give --follow or --json, not both");
            goto out;
        }
        if (f.all && !tagged && !mpi) {
            cmd_error (cmd,
                       "--follow --all needs an --mpi task (its one log holds every "
                       "stream); follow stdout or --err");
            goto out;
        }
        rc = follow (cmd, dir, job, index, has_index, &f);
        goto out;
    }
    mem = json ? open_memstream (&data, &len) : stdout;
    if (!mem || !(in = fdopen (fd, "r"))) {
        cmd_error (cmd, "%s", strerror (errno));
        goto out;
    }
    fd = -1;
    if (tagged) {
        show_tagged (in, mem, &f);
    } else {
        show_raw (in, mem, &f, f.stream);
        if (f.all) { /* then stderr, from its own file */
            fclose (in);
            in = NULL;
            json_decref (r);
            r = NULL;
            if (fetch (cmd, dir, job, index, has_index, 1, &r, &fd))
                goto out;
            if (!(in = fdopen (fd, "r"))) {
                cmd_error (cmd, "%s", strerror (errno));
                goto out;
            }
            fd = -1;
            show_raw (in, mem, &f, S_ERR);
        }
    }
    rc = 0;
    if (json) {
        fclose (mem);
        mem = NULL;
        json_object_del (r, "format");
        json_object_set_new (r, "stream",
                             json_string (f.all               ? "all"
                                          : f.stream == S_ERR ? "err"
                                                              : "out"));
        json_t *s = json_stringn (data, len);
        if (!s) {
            rc = cmd_error (
                cmd, "job %llu: the log is not UTF-8 text; use it without --json",
                (unsigned long long)job);
            goto out;
        }
        json_object_set_new (r, "data", s);
        schedc_print_json (r);
    }
out:
    if (in)
        fclose (in);
    if (fd >= 0)
        close (fd);
    if (mem && mem != stdout)
        fclose (mem);
    free (data);
    json_decref (r);
    if (f.re)
        regfree (f.re);
    return rc;
}

const struct cmd cmd_logs = {
    .name = "logs",
    .usage = "[--err|--all] [--rank R] [--grep PATTERN] [--prefix] [--follow|--json] "
             "JOB[.INDEX]",
    .summary =
        "Show what a task wrote (stdout, stderr, Loom's lines); owner or root only",
    .fn = logs_main,
    .options = options,
    .description =
        "JOB alone shows the job's first task; JOB.INDEX an array task. An --mpi "
        "task's\n"
        "log holds every rank's lines stamped with time and rank, and Loom's own "
        "lines\n"
        "(each rank's end, loomd's start and end of the task, the trace merge):\n"
        "--rank picks one rank, --all shows every stream with its prefix. Logs stay\n"
        "after the job ended and across loomd restarts. --follow prints what a\n"
        "running task writes as it comes (agents send output to the head every\n"
        "0.2 s) and returns when the task ends. See docs/sched.md.",
};
