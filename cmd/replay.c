/* SPDX-License-Identifier: MIT */
/* `loom replay`: rerun one captured task of a job in one local process
 * (docs/replay.md). The capture's manifest names the app's binary and argv; the
 * replay runs that binary as a single MPI process with $LOOM_REPLAY pointing at the
 * capture, and the framework inside runs only the captured task.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <loom/capture.h>

#include "cmd.h"

enum { OPT_GDB = 256, OPT_DATA, OPT_DIR };

static const struct cmd_option options[] = {
    {"task", 1, 't', "T", "The task to replay (see --list)"},
    {"list", 0, 'l', NULL, "List the captured tasks of JOB (of every job without JOB)"},
    {"gdb", 0, OPT_GDB, NULL,
     "Run the task under gdb (batch mode with a backtrace when stdin is not a "
     "terminal)"},
    {"data", 1, OPT_DATA, "DIR",
     "The copied input: replaces the input directory recorded by the capture"},
    {"output", 1, 'o', "FILE", "Write the records the task emits as text to FILE"},
    {"dir", 1, OPT_DIR, "DIR",
     "Where captures are (default $LOOM_CAPTURE_DIR, else ~/.loom/captures)"},
    {NULL, 0, 0, NULL, NULL},
};

static int is_dir (const char *p)
{
    struct stat sb;
    return stat (p, &sb) == 0 && S_ISDIR (sb.st_mode);
}

/* The job's directory: JOB as a path, or under the capture root. */
static int find_job (
    const struct cmd *cmd, const char *root, const char *job, char *out, size_t len)
{
    if (strchr (job, '/') && is_dir (job)) {
        snprintf (out, len, "%s", job);
        return 0;
    }
    snprintf (out, len, "%s/%s", root, job);
    if (is_dir (out))
        return 0;
    return cmd_error (cmd, "no captured job '%s' in %s", job, root), -1;
}

static int name_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Subdirectories of 'dir', sorted. Caller frees. */
static char **list_dirs (const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir (dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX];
        snprintf (p, sizeof (p), "%s/%s", dir, e->d_name);
        if (!is_dir (p))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc (v, cap * sizeof (*v));
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = strdup (e->d_name);
    }
    closedir (d);
    if (v)
        qsort (v, *n, sizeof (*v), name_cmp);
    return v;
}

static void free_list (char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (v[i]);
    free (v);
}

/* Load and check a task's manifest; NULL after printing one line. */
static json_t *load_manifest (const struct cmd *cmd, const char *taskdir)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/manifest.json", taskdir);
    if (access (path, F_OK) < 0)
        return cmd_error (cmd, "capture %s is incomplete: no manifest.json", taskdir),
               NULL;
    json_error_t je;
    json_t *m = json_load_file (path, JSON_ALLOW_NUL, &je);
    if (!m || !json_is_object (m)) {
        cmd_error (cmd, "capture %s is corrupt: %s", path,
                   m ? "not a JSON object" : je.text);
        json_decref (m);
        return NULL;
    }
    json_t *v = json_object_get (m, "loom_capture");
    if (!json_is_integer (v)) {
        cmd_error (cmd, "%s is not a Loom capture manifest", path);
        json_decref (m);
        return NULL;
    }
    if (json_integer_value (v) != LOOM_CAPTURE_VERSION) {
        cmd_error (cmd, "capture format version %lld in %s; this loom reads version %d",
                   (long long)json_integer_value (v), path, LOOM_CAPTURE_VERSION);
        json_decref (m);
        return NULL;
    }
    return m;
}

static const char *str (json_t *o, const char *k)
{
    const char *s = json_string_value (json_object_get (o, k));
    return s ? s : "";
}

/* "SIGSEGV in user code at key "x"" into buf, from a crash object. */
static void describe_crash (json_t *c, char *buf, size_t len)
{
    int n = snprintf (buf, len, "%s in %s", str (c, "signal_name"),
                      json_is_true (json_object_get (c, "in_user_code")) ? "user code"
                                                                         : "Loom");
    json_t *k = json_object_get (c, "key"), *v = json_object_get (c, "vertex");
    if (n < 0 || (size_t)n >= len)
        return;
    if (json_is_integer (v))
        snprintf (buf + n, len - (size_t)n, " at vertex %lld",
                  (long long)json_integer_value (v));
    else if (json_is_string (k)) {
        char *q = json_dumps (k, JSON_ENCODE_ANY);
        snprintf (buf + n, len - (size_t)n, " while processing key %s", q ? q : "?");
        free (q);
    }
}

static void list_job (const struct cmd *cmd, const char *jobdir, const char *job)
{
    size_t n;
    char **tasks = list_dirs (jobdir, &n);
    for (size_t i = 0; i < n; i++) {
        char td[PATH_MAX], what[512] = "";
        snprintf (td, sizeof (td), "%s/%s", jobdir, tasks[i]);
        json_t *m = load_manifest (cmd, td);
        if (!m)
            continue;
        json_t *c = json_object_get (m, "crash");
        if (c)
            describe_crash (c, what, sizeof (what));
        else if (json_object_get (m, "output"))
            snprintf (what, sizeof (what), "%lld records out",
                      (long long)json_integer_value (
                          json_object_get (json_object_get (m, "output"), "records")));
        printf ("%-16s %-20s %-8s %-9s %s\n", job, tasks[i], str (m, "kind"),
                str (m, "status"), what);
        json_decref (m);
    }
    free_list (tasks, n);
}

static int list (const struct cmd *cmd, const char *root, const char *job)
{
    char jobdir[PATH_MAX];
    printf ("%-16s %-20s %-8s %-9s %s\n", "JOB", "TASK", "KIND", "STATUS", "DETAIL");
    if (job) {
        if (find_job (cmd, root, job, jobdir, sizeof (jobdir)) < 0)
            return 1;
        const char *slash = strrchr (jobdir, '/');
        list_job (cmd, jobdir, slash && slash[1] ? slash + 1 : job);
        return 0;
    }
    size_t n;
    char **jobs = list_dirs (root, &n);
    for (size_t i = 0; i < n; i++) {
        snprintf (jobdir, sizeof (jobdir), "%s/%s", root, jobs[i]);
        list_job (cmd, jobdir, jobs[i]);
    }
    free_list (jobs, n);
    return 0;
}

/* The app binary: the recorded one, else loom-<its name> beside loom or on PATH. */
static char *find_exe (const char *exe)
{
    if (*exe && access (exe, X_OK) == 0)
        return strdup (exe);
    const char *base = strrchr (exe, '/');
    base = base ? base + 1 : exe;
    if (strncmp (base, "loom-", 5) == 0)
        return cmd_find_program (base + 5);
    return NULL;
}

static void child (json_t *m,
                   const char *exe,
                   const char *taskdir,
                   const char *result,
                   const char *data,
                   const char *output,
                   int gdb)
{
    setenv ("LOOM_REPLAY", taskdir, 1);
    setenv ("LOOM_REPLAY_RESULT", result, 1);
    if (data)
        setenv ("LOOM_REPLAY_DATA", data, 1);
    if (output)
        setenv ("LOOM_REPLAY_OUTPUT", output, 1);
    /* One process of its own: not a rank of whatever job runs this command. */
    static const char *drop[] = {
        "LOOM_CAPTURE",         "PMIX_NAMESPACE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE", "LOOM_RANK",      NULL};
    for (int i = 0; drop[i]; i++)
        unsetenv (drop[i]);
    const char *cwd = str (json_object_get (m, "app"), "cwd");
    if (*cwd && is_dir (cwd) && chdir (cwd) < 0)
        (void)0; /* the replay does not depend on it: inputs are absolute */
    json_t *argv = json_object_get (json_object_get (m, "app"), "argv");
    size_t n = json_array_size (argv);
    const char **av = calloc (n + 12, sizeof (char *));
    if (!av)
        _exit (127);
    size_t k = 0;
    if (gdb) {
        av[k++] = "gdb";
        av[k++] = "-q";
        if (!isatty (STDIN_FILENO)) {
            /* Stop at the crash, print the stack, then let Loom's handler report. */
            const char *batch[] = {"-batch", "-ex", "run",     "-ex",
                                   "bt",     "-ex", "continue"};
            for (size_t i = 0; i < 7; i++)
                av[k++] = batch[i];
        }
        av[k++] = "--args";
    }
    av[k++] = exe;
    for (size_t i = 1; i < n; i++)
        av[k++] = json_string_value (json_array_get (argv, i));
    av[k] = NULL;
    execvp (av[0], (char *const *)av);
    fprintf (stderr, "loom: replay: cannot run %s: %s\n", av[0], strerror (errno));
    _exit (127);
}

/* "SIGSEGV" and the like; strsignal()'s text for a signal without an abbreviation. */
static const char *signame (int sig)
{
    static char name[16];
    const char *abbrev = sigabbrev_np (sig);
    if (!abbrev)
        return strsignal (sig);
    snprintf (name, sizeof (name), "SIG%s", abbrev);
    return name;
}

/* Compare the replay's outcome with the capture's and print it. Exit status. */
static int
report (const struct cmd *cmd, const char *task, json_t *m, json_t *r, int ws)
{
    json_t *cap_crash = json_object_get (m, "crash");
    json_t *rep_crash = r ? json_object_get (r, "crash") : NULL;
    char a[600], b[600];
    if (rep_crash) {
        describe_crash (rep_crash, b, sizeof (b));
        if (!cap_crash) {
            printf ("replay of %s crashed: %s (the captured run did not crash)\n", task,
                    b);
            return 1;
        }
        describe_crash (cap_crash, a, sizeof (a));
        int same = strcmp (a, b) == 0;
        printf ("replay of %s %s: %s%s%s\n", task,
                same ? "reproduced the crash" : "crashed differently", b,
                same ? "" : "; captured: ", same ? "" : a);
        return same ? 0 : 1;
    }
    if (!r) {
        if (WIFSIGNALED (ws))
            return cmd_error (cmd, "the replay of %s died of %s before reporting", task,
                              signame (WTERMSIG (ws)));
        return cmd_error (cmd,
                          "the replay of %s exited (status %d) without a result "
                          "(is the app built with this Loom?)",
                          task, WIFEXITED (ws) ? WEXITSTATUS (ws) : -1);
    }
    if (strcmp (str (r, "status"), "ok") != 0)
        return cmd_error (cmd, "%s: %s", task,
                          *str (r, "error") ? str (r, "error") : "the replay failed");
    json_t *ro = json_object_get (r, "output"), *co = json_object_get (m, "output");
    long long out = json_integer_value (json_object_get (ro, "records"));
    snprintf (a, sizeof (a), "%s", str (r, "summary"));
    if (cap_crash) {
        describe_crash (cap_crash, b, sizeof (b));
        printf ("replay of %s did not crash (%s, %lld records out); captured: %s\n",
                task, a, out, b);
        return 1;
    }
    if (!co) {
        printf ("replay of %s: %s, %lld records out, xxh64 %s (the capture recorded no "
                "output to compare)\n",
                task, a, out, str (ro, "xxh64"));
        return 0;
    }
    int same = strcmp (str (ro, "xxh64"), str (co, "xxh64")) == 0
               && json_integer_value (json_object_get (co, "records")) == out;
    printf ("replay of %s: %s, %lld records out, xxh64 %s: %s\n", task, a, out,
            str (ro, "xxh64"),
            same ? "identical to the captured output" : "DIFFERS from the capture");
    return same ? 0 : 1;
}

static int replay (const struct cmd *cmd,
                   const char *root,
                   const char *job,
                   const char *task,
                   const char *data,
                   const char *output,
                   int gdb)
{
    char jobdir[PATH_MAX], taskdir[PATH_MAX + 256], abs[PATH_MAX];
    if (find_job (cmd, root, job, jobdir, sizeof (jobdir)) < 0)
        return 1;
    snprintf (taskdir, sizeof (taskdir), "%s/%s", jobdir, task);
    if (!is_dir (taskdir)) {
        size_t n;
        char **tasks = list_dirs (jobdir, &n);
        char names[400] = "";
        for (size_t i = 0, len = 0; i < n && len + 40 < sizeof (names); i++)
            len += (size_t)snprintf (names + len, sizeof (names) - len, "%s%s",
                                     i ? ", " : "", tasks[i]);
        free_list (tasks, n);
        return cmd_error (cmd, "job %s has no captured task '%s' (captured: %s)", job,
                          task, n ? names : "none");
    }
    if (!realpath (taskdir, abs))
        return cmd_error (cmd, "cannot resolve %s: %s", taskdir, strerror (errno));
    json_t *m = load_manifest (cmd, abs);
    if (!m)
        return 1;
    char datadir[PATH_MAX];
    if (data && !realpath (data, datadir)) {
        json_decref (m);
        return cmd_error (cmd, "--data %s: %s", data, strerror (errno));
    }
    const char *recorded = str (json_object_get (m, "app"), "exe");
    char *exe = find_exe (recorded);
    if (!exe) {
        json_decref (m);
        return cmd_error (cmd,
                          "the app binary '%s' is missing (and no such loom-* "
                          "program is beside loom or on PATH)",
                          recorded);
    }
    char result[PATH_MAX];
    const char *tmp = getenv ("TMPDIR");
    snprintf (result, sizeof (result), "%s/loom-replay-XXXXXX",
              tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp (result);
    if (fd < 0) {
        free (exe);
        json_decref (m);
        return cmd_error (cmd, "cannot create a temporary file: %s", strerror (errno));
    }
    close (fd);
    unlink (result); /* the replay creates it only when it gets that far */
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0)
        child (m, exe, abs, result, data ? datadir : NULL, output, gdb);
    int ws = 0, status;
    if (pid < 0) {
        status = cmd_error (cmd, "fork: %s", strerror (errno));
    } else {
        /* gdb and the replayed app take Ctrl-C themselves. */
        signal (SIGINT, SIG_IGN);
        while (waitpid (pid, &ws, 0) < 0 && errno == EINTR)
            ;
        signal (SIGINT, SIG_DFL);
        json_t *r = json_load_file (result, JSON_ALLOW_NUL, NULL);
        status = report (cmd, task, m, r, ws);
        json_decref (r);
    }
    unlink (result);
    free (exe);
    json_decref (m);
    return status;
}

static int replay_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *task = NULL, *data = NULL, *output = NULL, *dir = NULL, *job = NULL;
    int gdb = 0, do_list = 0, c;
    const char *arg;
    for (;;) {
        c = cmd_getopt (cmd, argc, argv, &arg);
        if (c == -1 && optind < argc) {
            /* An operand: JOB, options may follow it. */
            if (job)
                return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);
            job = argv[optind++];
            continue;
        }
        if (c == -1)
            break;
        switch (c) {
        case -2:
            return 1;
        case 't':
            task = arg;
            break;
        case 'l':
            do_list = 1;
            break;
        case OPT_GDB:
            gdb = 1;
            break;
        case OPT_DATA:
            data = arg;
            break;
        case 'o':
            output = arg;
            break;
        case OPT_DIR:
            dir = arg;
            break;
        }
    }
    if (dir)
        setenv ("LOOM_CAPTURE_DIR", dir, 1);
    const char *root = loom_capture_root ();
    if (do_list)
        return list (cmd, root, job);
    if (!job)
        return cmd_error (cmd, "no job given (see 'loom replay --list')");
    if (!task)
        return cmd_error (cmd, "no task given: --task T (see 'loom replay --list %s')",
                          job);
    return replay (cmd, root, job, task, data, output, gdb);
}

const struct cmd cmd_replay = {
    .name = "replay",
    .usage = "[options] JOB --task T | --list [JOB]",
    .summary = "Rerun one captured task of a job in one local process",
    .fn = replay_main,
    .options = options,
    .description =
        "A task is captured when its user code crashes, or before it runs with the\n"
        "apps' --capture[=TASKS] (LOOM_CAPTURE=TASKS). The replay runs the app's own\n"
        "binary as one process on the captured input and reports whether it "
        "reproduced\n"
        "the crash (naming the key or vertex) or the captured output. Exit status 0\n"
        "when it did. See docs/replay.md.",
};
