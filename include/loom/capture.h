/* SPDX-License-Identifier: MIT */
/* Task capture for one-task replay (issue 10; docs/replay.md).
 *
 * A framework task is one call pattern of user code on one rank: the map of a rank's
 * input slice, the reduce of one output partition, the compute() calls of one rank in
 * one superstep. When user code crashes in a task, or when the user asked with
 * --capture / LOOM_CAPTURE, the framework leaves in
 *
 *     $LOOM_CAPTURE_DIR/<job>/<task>/manifest.json    (+ the task's input files)
 *
 * what `loom replay <job> --task <task>` needs to rerun just that task in one
 * process: the task's identity, the app's binary and argv, and its input, either by
 * reference (an immutable dataset or text range, with checksums) or copied.
 *
 * This library holds what every framework shares: the mode (LOOM_CAPTURE), the
 * directories, the crash handler and async-signal-safe writers for it, and the
 * "current key" that a crash report names. Frameworks describe their tasks.
 *
 * Crash path. loom_capture_arm() is called (in normal code) before user code runs,
 * with the task's manifest already rendered; the handler (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGABRT) then only creates directories, writes that text, the signal and
 * the current key, calls the framework's hook (which writes input arrays that are
 * still in memory with write(2)), renames the manifest into place, prints one line,
 * and passes the signal on to the previous handler (the trace's, Open MPI's, or the
 * default: the process still dies with the signal and its core).
 */
#ifndef LOOM_CAPTURE_H
#define LOOM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the manifest format (its "loom_capture" member). */
#define LOOM_CAPTURE_VERSION 1

/* What LOOM_CAPTURE asks for. */
typedef enum {
    LOOM_CAPTURE_OFF = 0,   /* "off" or "0": nothing, no handler */
    LOOM_CAPTURE_CRASH = 1, /* unset, "" or "crash" (the default): on a crash only */
    LOOM_CAPTURE_TASKS = 2, /* "all", "1", or a comma list of task name patterns
                               (fnmatch, e.g. "s0-reduce-*,compute-ss3-r1"):
                               those tasks before they run, and crashes */
} loom_capture_mode_t;

/* The mode from LOOM_CAPTURE (read once). LOOM_REPLAY set means replay mode:
 * then this returns LOOM_CAPTURE_OFF. This function can't fail.
 */
LOOM_API loom_capture_mode_t loom_capture_mode (void);

/* Does the user's selection (LOOM_CAPTURE_TASKS) include task 'task'? */
LOOM_API bool loom_capture_selected (const char *task);

/* Remove '--capture' or '--capture=SEL' from argv (apps call this before their own
 * option parsing) and set LOOM_CAPTURE to SEL ("all" without a value). Returns 1
 * if the option was there, 0 if not. This function can't fail.
 */
LOOM_API int loom_capture_take_option (int *argc, char **argv);

/* The directory holding captures: $LOOM_CAPTURE_DIR, else $HOME/.loom/captures.
 * Owned by the library. This function can't fail.
 */
LOOM_API const char *loom_capture_root (void);

/* The job name under which this process's tasks are captured: 16 hex digits of
 * loom_trace_id(), or of the id given to loom_capture_set_job(); "" while unknown.
 * A framework whose ranks find no trace id agrees on one (rank 0's) and sets it.
 */
LOOM_API const char *loom_capture_job (void);
LOOM_API void loom_capture_set_job (uint64_t id);

/* Create (mkdir -p) the directory of 'task' of this job and write its path into
 * 'buf'. Returns 0, or -1 with errno (ENAMETOOLONG, or mkdir's) and 'error'.
 */
LOOM_API int
loom_capture_task_dir (const char *task, char *buf, size_t len, loom_error_t *error);

/* Write 'manifest' (a JSON object's text) as <dir>/manifest.json, atomically
 * (a temporary file renamed into place). Returns 0 or -1 with errno and 'error'.
 */
LOOM_API int loom_capture_write_manifest (const char *dir,
                                          const char *manifest,
                                          loom_error_t *error);

/* The members every manifest starts with, as a JSON object's text (caller frees):
 * "loom_capture" (the format version), "loom_version", "job", "task", "framework",
 * "kind", "host", "captured_at", and "app": {"exe", "argv", "cwd"} read from /proc,
 * so the replay runs the same binary with the same options. Returns NULL with errno
 * ENOMEM.
 */
LOOM_API char *
loom_capture_manifest_head (const char *task, const char *framework, const char *kind);

/* ---- crash capture --------------------------------------------------------------- */

/* A file written from the signal handler; only write(2) underneath. */
struct loom_capture_out {
    int fd;
    int failed;
};

/* Async-signal-safe writers: text, an unsigned decimal, a JSON string (quoted,
 * escaped, cut at 'max' bytes), bytes as hex.
 */
LOOM_API void loom_capture_put (struct loom_capture_out *o, const char *s);
LOOM_API void loom_capture_put_u64 (struct loom_capture_out *o, uint64_t v);
LOOM_API void loom_capture_put_json_str (struct loom_capture_out *o,
                                         const void *p,
                                         size_t n,
                                         size_t max);
LOOM_API void
loom_capture_put_raw (struct loom_capture_out *o, const void *p, size_t n);

/* Async-signal-safe: create <dir>/<name> and open it for writing (o->fd, -1 on
 * failure), and close it. Returns 0 or -1.
 */
LOOM_API int
loom_capture_open (struct loom_capture_out *o, const char *dir, const char *name);
LOOM_API int loom_capture_close (struct loom_capture_out *o);

/* Called from the signal handler with the task's directory (already created) and
 * the manifest being written, positioned inside the top-level object: the hook
 * writes input files, may add members (",\"name\":value") and may name what user
 * code was working on (loom_capture_key/vertex) before the crash is reported. Must
 * be async-signal-safe: the loom_capture_* writers above, write(2), pread(2).
 */
typedef void (*loom_capture_crash_f) (const char *dir,
                                      struct loom_capture_out *manifest,
                                      void *arg);

/* Arm the crash capture for 'task' before user code runs: 'manifest' is the task's
 * manifest (a JSON object's text, copied) that a crash completes with the signal,
 * the key and what 'hook' (may be NULL) adds. Installs the handler on first use.
 * Returns 0, or -1 with errno ENOMEM or ENAMETOOLONG.
 */
LOOM_API int loom_capture_arm (const char *task,
                               const char *manifest,
                               loom_capture_crash_f hook,
                               void *arg,
                               loom_error_t *error);

/* No task is running user code any more. This function can't fail. */
LOOM_API void loom_capture_disarm (void);

/* Replay mode: arm a crash report instead of a capture. A crash in user code then
 * prints "loom: replay: <task>: <signal> in user code while processing key '<key>'"
 * and writes the same as JSON to $LOOM_REPLAY_RESULT.
 */
LOOM_API int loom_capture_arm_replay (const char *task, loom_error_t *error);

/* What user code is working on, for the crash report. Frameworks set it before each
 * call of user code (two stores); 'in_user' says the crash is in user code.
 */
struct loom__capture_cur {
    const void *volatile key;
    volatile size_t key_len;
    volatile int in_user;
    volatile int has_vertex;
    volatile uint64_t vertex;
};
extern LOOM_API struct loom__capture_cur loom__capture_cur;

static inline void loom_capture_key (const void *key, size_t len)
{
    loom__capture_cur.key = key;
    loom__capture_cur.key_len = len;
}

static inline void loom_capture_vertex (uint64_t id)
{
    loom__capture_cur.vertex = id;
    loom__capture_cur.has_vertex = 1;
}

static inline void loom_capture_user (int in_user)
{
    loom__capture_cur.in_user = in_user;
}

/* ---- replay side ----------------------------------------------------------------- */

/* The captured task directory this process replays ($LOOM_REPLAY), or NULL. */
LOOM_API const char *loom_replay_dir (void);

/* Map a path recorded at capture time to this machine: with $LOOM_REPLAY_DATA=DIR,
 * 'path' below the recorded input root 'root' becomes DIR/<rest>. Writes into 'buf'.
 * Returns buf (or 'path' unchanged when not remapped). This function can't fail
 * (a result that does not fit is returned unchanged).
 */
LOOM_API const char *
loom_replay_path (const char *root, const char *path, char *buf, size_t len);

/* Write the replay's result (a JSON object's text) to $LOOM_REPLAY_RESULT. */
LOOM_API int loom_replay_result (const char *json);

#ifdef __cplusplus
}
#endif
#endif
