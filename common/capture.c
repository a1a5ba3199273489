/* SPDX-License-Identifier: MIT */
/* Task capture: mode, directories and the crash handler (see loom/capture.h).
 *
 * Everything the handler touches is prepared before user code runs: the task's
 * directory path, its manifest text and the replay command line are copied into
 * buffers at arm time, so the handler only calls mkdir, open, write, rename, close,
 * sigaction and raise, all async-signal-safe (POSIX.1-2008 list).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <unistd.h>

#include <loom/capture.h>
#include <loom/error.h>
#include <loom/trace.h>
#include <loom/version.h>

struct loom__capture_cur loom__capture_cur;

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NSIGNALS (sizeof (crash_signals) / sizeof (crash_signals[0]))

static struct {
    int mode_read;
    loom_capture_mode_t mode;
    char root[PATH_MAX];
    char job[17];
    /* armed task */
    atomic_int armed; /* 0 no, 1 capture, 2 replay report */
    atomic_int fired;
    char task[128];
    char dir[PATH_MAX];
    char *manifest; /* JSON object text, without its closing brace */
    size_t manifest_len, manifest_cap;
    char note[PATH_MAX + 512]; /* the line printed after a capture */
    loom_capture_crash_f hook;
    void *hook_arg;
    int handlers;
    struct sigaction old[NSIGNALS];
} cs;

loom_capture_mode_t loom_capture_mode (void)
{
    if (cs.mode_read)
        return cs.mode;
    cs.mode_read = 1;
    const char *r = getenv ("LOOM_REPLAY");
    const char *s = getenv ("LOOM_CAPTURE");
    if (r && *r)
        cs.mode = LOOM_CAPTURE_OFF;
    else if (!s || !*s || strcmp (s, "crash") == 0)
        cs.mode = LOOM_CAPTURE_CRASH;
    else if (strcmp (s, "off") == 0 || strcmp (s, "0") == 0)
        cs.mode = LOOM_CAPTURE_OFF;
    else
        cs.mode = LOOM_CAPTURE_TASKS;
    return cs.mode;
}

bool loom_capture_selected (const char *task)
{
    if (loom_capture_mode () != LOOM_CAPTURE_TASKS)
        return false;
    const char *s = getenv ("LOOM_CAPTURE");
    if (strcmp (s, "all") == 0 || strcmp (s, "1") == 0)
        return true;
    char pat[256];
    while (*s) {
        size_t n = strcspn (s, ",");
        if (n > 0 && n < sizeof (pat)) {
            memcpy (pat, s, n);
            pat[n] = '\0';
            if (fnmatch (pat, task, 0) == 0)
                return true;
        }
        s += n;
        if (*s == ',')
            s++;
    }
    return false;
}

int loom_capture_take_option (int *argc, char **argv)
{
    int found = 0, j = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp (a, "--") == 0) {
            while (i < *argc)
                argv[j++] = argv[i++];
            break;
        }
        if (strcmp (a, "--capture") == 0) {
            setenv ("LOOM_CAPTURE", "all", 1);
            found = 1;
            continue;
        }
        if (strncmp (a, "--capture=", 10) == 0) {
            setenv ("LOOM_CAPTURE", a[10] ? a + 10 : "all", 1);
            found = 1;
            continue;
        }
        argv[j++] = argv[i];
    }
    if (found) {
        *argc = j;
        argv[j] = NULL;
        cs.mode_read = 0;
    }
    return found;
}

const char *loom_capture_root (void)
{
    if (cs.root[0])
        return cs.root;
    const char *d = getenv ("LOOM_CAPTURE_DIR");
    const char *home = getenv ("HOME");
    if (d && *d)
        snprintf (cs.root, sizeof (cs.root), "%s", d);
    else
        snprintf (cs.root, sizeof (cs.root), "%s/.loom/captures",
                  home && *home ? home : "/tmp");
    return cs.root;
}

const char *loom_capture_job (void)
{
    if (!cs.job[0]) {
        uint64_t id = loom_trace_id ();
        if (id)
            loom_trace_id_format (id, cs.job);
    }
    return cs.job;
}

void loom_capture_set_job (uint64_t id)
{
    loom_trace_id_format (id, cs.job);
}

/* mkdir -p; async-signal-safe (a stack copy of the path, mkdir only). */
static int mkdirs (const char *path)
{
    char p[PATH_MAX];
    size_t n = strlen (path);
    if (n >= sizeof (p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir (p, 0755) < 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

int loom_capture_task_dir (const char *task, char *buf, size_t len, loom_error_t *error)
{
    const char *job = loom_capture_job ();
    if (!*job)
        return loom_errset (error, EINVAL, "capture: the job has no id");
    int n = snprintf (buf, len, "%s/%s/%s", loom_capture_root (), job, task);
    if (n < 0 || (size_t)n >= len)
        return loom_errset (error, ENAMETOOLONG, "capture: directory name too long");
    if (mkdirs (buf) < 0)
        return loom_errset (error, errno, "capture: cannot create '%s': %s", buf,
                            strerror (errno));
    return 0;
}

int loom_capture_write_manifest (const char *dir,
                                 const char *manifest,
                                 loom_error_t *error)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf (tmp, sizeof (tmp), "%s/manifest.json.tmp", dir);
    snprintf (path, sizeof (path), "%s/manifest.json", dir);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return loom_errset (error, errno, "capture: cannot create '%s': %s", tmp,
                            strerror (errno));
    int bad = fputs (manifest, f) < 0 || fputc ('\n', f) < 0;
    bad |= fclose (f) != 0;
    if (bad || rename (tmp, path) < 0) {
        int e = errno ? errno : EIO;
        unlink (tmp);
        return loom_errset (error, e, "capture: cannot write '%s': %s", path,
                            strerror (e));
    }
    return 0;
}

/* argv from /proc/self/cmdline (NUL-separated). */
static json_t *read_argv (void)
{
    json_t *a = json_array ();
    FILE *f = fopen ("/proc/self/cmdline", "r");
    if (!f || !a) {
        if (f)
            fclose (f);
        return a;
    }
    char *arg = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getdelim (&arg, &cap, '\0', f)) > 0)
        json_array_append_new (a, json_stringn (arg, strnlen (arg, (size_t)n)));
    free (arg);
    fclose (f);
    return a;
}

char *
loom_capture_manifest_head (const char *task, const char *framework, const char *kind)
{
    char exe[PATH_MAX] = "", cwd[PATH_MAX] = "", host[256] = "", when[64] = "";
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof (exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (!getcwd (cwd, sizeof (cwd)))
        cwd[0] = '\0';
    gethostname (host, sizeof (host) - 1);
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (when, sizeof (when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o = json_pack (
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:o, s:s}}", "loom_capture",
        LOOM_CAPTURE_VERSION, "loom_version", LOOM_VERSION_STRING, "job",
        loom_capture_job (), "task", task, "framework", framework, "kind", kind, "host",
        host, "captured_at", when, "app", "exe", exe, "argv", read_argv (), "cwd", cwd);
    char *s = o ? json_dumps (o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref (o);
    if (!s)
        errno = ENOMEM;
    return s;
}

/* ---- async-signal-safe writers ---- */

void loom_capture_put_raw (struct loom_capture_out *o, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0 && o->fd >= 0 && !o->failed) {
        ssize_t k = write (o->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            o->failed = 1;
            return;
        }
        c += k;
        n -= (size_t)k;
    }
}

void loom_capture_put (struct loom_capture_out *o, const char *s)
{
    loom_capture_put_raw (o, s, strlen (s));
}

void loom_capture_put_u64 (struct loom_capture_out *o, uint64_t v)
{
    char b[24];
    int i = sizeof (b);
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    loom_capture_put_raw (o, b + i, sizeof (b) - (size_t)i);
}

void loom_capture_put_json_str (struct loom_capture_out *o,
                                const void *p,
                                size_t n,
                                size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = p;
    char b[8];
    loom_capture_put_raw (o, "\"", 1);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            b[0] = '\\';
            b[1] = (char)c;
            loom_capture_put_raw (o, b, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            /* Bytes, not UTF-8: every byte >= 0x7f is shown as \u00XX. */
            memcpy (b, "\\u00", 4);
            b[4] = hex[c >> 4];
            b[5] = hex[c & 15];
            loom_capture_put_raw (o, b, 6);
        } else {
            loom_capture_put_raw (o, &s[i], 1);
        }
    }
    loom_capture_put_raw (o, "\"", 1);
}

int loom_capture_open (struct loom_capture_out *o, const char *dir, const char *name)
{
    char path[PATH_MAX];
    size_t d = strlen (dir), n = strlen (name);
    o->failed = 0;
    o->fd = -1;
    if (d + n + 2 > sizeof (path))
        return -1;
    memcpy (path, dir, d);
    path[d] = '/';
    memcpy (path + d + 1, name, n + 1);
    o->fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return o->fd < 0 ? -1 : 0;
}

int loom_capture_close (struct loom_capture_out *o)
{
    int rc = o->failed ? -1 : 0;
    if (o->fd >= 0 && close (o->fd) < 0)
        rc = -1;
    o->fd = -1;
    return rc;
}

/* ---- the handler ---- */

static const char *signame (int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    }
    return "signal";
}

/* The crash facts as JSON members (no braces): signal, where, key, vertex. */
static void put_crash (struct loom_capture_out *o, int sig)
{
    loom_capture_put (o, "\"signal\":");
    loom_capture_put_u64 (o, (uint64_t)sig);
    loom_capture_put (o, ",\"signal_name\":\"");
    loom_capture_put (o, signame (sig));
    loom_capture_put (o, "\",\"in_user_code\":");
    loom_capture_put (o, loom__capture_cur.in_user ? "true" : "false");
    if (loom__capture_cur.key) {
        loom_capture_put (o, ",\"key\":");
        loom_capture_put_json_str (o, loom__capture_cur.key, loom__capture_cur.key_len,
                                   4096);
        loom_capture_put (o, ",\"key_len\":");
        loom_capture_put_u64 (o, loom__capture_cur.key_len);
    }
    if (loom__capture_cur.has_vertex) {
        loom_capture_put (o, ",\"vertex\":");
        loom_capture_put_u64 (o, loom__capture_cur.vertex);
    }
}

/* "what" for the one-line report: key 'x' or vertex N. */
static void put_what (struct loom_capture_out *o)
{
    if (loom__capture_cur.has_vertex) {
        loom_capture_put (o, " at vertex ");
        loom_capture_put_u64 (o, loom__capture_cur.vertex);
    } else if (loom__capture_cur.key) {
        loom_capture_put (o, " while processing key ");
        loom_capture_put_json_str (o, loom__capture_cur.key, loom__capture_cur.key_len,
                                   200);
    }
}

static void capture_crash (int sig)
{
    if (mkdirs (cs.dir) < 0)
        return;
    struct loom_capture_out m;
    if (loom_capture_open (&m, cs.dir, "manifest.json.tmp") < 0)
        return;
    loom_capture_put_raw (&m, cs.manifest, cs.manifest_len);
    /* The hook first: it may name the vertex (loom_capture_vertex) for the report. */
    if (cs.hook)
        cs.hook (cs.dir, &m, cs.hook_arg);
    loom_capture_put (&m, ",\"status\":\"crashed\",\"crash\":{");
    put_crash (&m, sig);
    loom_capture_put (&m, "}}\n");
    char from[PATH_MAX], to[PATH_MAX];
    size_t d = strlen (cs.dir);
    if (loom_capture_close (&m) == 0 && d + 20 < sizeof (from)) {
        memcpy (from, cs.dir, d);
        memcpy (from + d, "/manifest.json.tmp", 19);
        memcpy (to, cs.dir, d);
        memcpy (to + d, "/manifest.json", 15);
        rename (from, to);
    }
    struct loom_capture_out e = {STDERR_FILENO, 0};
    loom_capture_put (&e, "loom: capture: ");
    loom_capture_put (&e, signame (sig));
    loom_capture_put (&e, loom__capture_cur.in_user ? " in user code" : " in Loom");
    loom_capture_put (&e, " of task ");
    loom_capture_put (&e, cs.task);
    put_what (&e);
    loom_capture_put (&e, cs.note);
}

static void replay_crash (int sig)
{
    struct loom_capture_out e = {STDERR_FILENO, 0};
    loom_capture_put (&e, "loom: replay: ");
    loom_capture_put (&e, cs.task);
    loom_capture_put (&e, ": ");
    loom_capture_put (&e, signame (sig));
    loom_capture_put (&e, loom__capture_cur.in_user ? " in user code" : " in Loom");
    put_what (&e);
    loom_capture_put (&e, "\n");
    if (cs.dir[0]) { /* $LOOM_REPLAY_RESULT, copied at arm time */
        struct loom_capture_out r = {-1, 0};
        r.fd = open (cs.dir, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        loom_capture_put (&r, "{\"status\":\"crashed\",\"crash\":{");
        put_crash (&r, sig);
        loom_capture_put (&r, "}}\n");
        loom_capture_close (&r);
    }
}

static void on_signal (int sig)
{
    int saved = errno;
    int armed = atomic_load (&cs.armed);
    if (armed && atomic_exchange (&cs.fired, 1) == 0) {
        if (armed == 1)
            capture_crash (sig);
        else
            replay_crash (sig);
    }
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (crash_signals[i] == sig) {
            sigaction (sig, &cs.old[i], NULL);
            break;
        }
    }
    errno = saved;
    raise (sig);
}

static void install (void)
{
    if (cs.handlers)
        return;
    cs.handlers = 1;
    /* A pending LOOM_TRACE start installs the trace's handler first; ours then
     * passes signals on to it.
     */
    (void)loom_trace_enabled ();
    for (size_t i = 0; i < NSIGNALS; i++) {
        struct sigaction sa;
        memset (&sa, 0, sizeof (sa));
        sa.sa_handler = on_signal;
        sigemptyset (&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        if (sigaction (crash_signals[i], &sa, &cs.old[i]) < 0)
            cs.old[i].sa_handler = SIG_DFL;
    }
}

int loom_capture_arm (const char *task,
                      const char *manifest,
                      loom_capture_crash_f hook,
                      void *arg,
                      loom_error_t *error)
{
    size_t n = strlen (manifest);
    /* Drop the closing brace: the handler appends members, then closes it. */
    while (n > 0 && manifest[n - 1] != '}')
        n--;
    if (n == 0)
        return loom_errset (error, EINVAL, "capture: the manifest is not an object");
    n--;
    if (n + 1 > cs.manifest_cap) {
        char *p = realloc (cs.manifest, n + 1);
        if (!p)
            return loom_errset (error, ENOMEM, "capture: out of memory");
        cs.manifest = p;
        cs.manifest_cap = n + 1;
    }
    atomic_store (&cs.armed, 0);
    memcpy (cs.manifest, manifest, n);
    cs.manifest_len = n;
    int k = snprintf (cs.dir, sizeof (cs.dir), "%s/%s/%s", loom_capture_root (),
                      loom_capture_job (), task);
    if (k < 0 || (size_t)k >= sizeof (cs.dir))
        return loom_errset (error, ENAMETOOLONG, "capture: directory name too long");
    snprintf (cs.task, sizeof (cs.task), "%s", task);
    snprintf (cs.note, sizeof (cs.note),
              "; captured in %s; replay it with: loom replay %s --task %s\n", cs.dir,
              loom_capture_job (), task);
    cs.hook = hook;
    cs.hook_arg = arg;
    loom__capture_cur.key = NULL;
    loom__capture_cur.has_vertex = 0;
    loom__capture_cur.in_user = 0;
    install ();
    atomic_store (&cs.armed, 1);
    return 0;
}

int loom_capture_arm_replay (const char *task, loom_error_t *error)
{
    const char *res = getenv ("LOOM_REPLAY_RESULT");
    atomic_store (&cs.armed, 0);
    snprintf (cs.task, sizeof (cs.task), "%s", task);
    cs.dir[0] = '\0';
    if (res && *res) {
        int k = snprintf (cs.dir, sizeof (cs.dir), "%s", res);
        if (k < 0 || (size_t)k >= sizeof (cs.dir))
            return loom_errset (error, ENAMETOOLONG, "replay: result path too long");
    }
    loom__capture_cur.key = NULL;
    loom__capture_cur.has_vertex = 0;
    loom__capture_cur.in_user = 0;
    install ();
    atomic_store (&cs.armed, 2);
    return 0;
}

void loom_capture_disarm (void)
{
    atomic_store (&cs.armed, 0);
    loom__capture_cur.key = NULL;
    loom__capture_cur.has_vertex = 0;
    loom__capture_cur.in_user = 0;
}

/* ---- replay side ---- */

const char *loom_replay_dir (void)
{
    const char *r = getenv ("LOOM_REPLAY");
    return r && *r ? r : NULL;
}

const char *loom_replay_path (const char *root, const char *path, char *buf, size_t len)
{
    const char *data = getenv ("LOOM_REPLAY_DATA");
    if (!data || !*data || !root || !*root)
        return path;
    size_t r = strlen (root);
    if (strncmp (path, root, r) != 0 || (path[r] != '/' && path[r] != '\0'))
        return path;
    int n = snprintf (buf, len, "%s%s", data, path + r);
    if (n < 0 || (size_t)n >= len)
        return path;
    return buf;
}

int loom_replay_result (const char *json)
{
    const char *res = getenv ("LOOM_REPLAY_RESULT");
    if (!res || !*res)
        return 0;
    FILE *f = fopen (res, "w");
    if (!f)
        return -1;
    int bad = fputs (json, f) < 0 || fputc ('\n', f) < 0;
    bad |= fclose (f) != 0;
    return bad ? -1 : 0;
}
