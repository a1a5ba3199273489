/* SPDX-License-Identifier: MIT */
/* The trace writer: what lands in the file, white-box against trace_format.h, including
 * after SIGKILL and SIGABRT of the writing process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/trace.h>

#include "../../common/trace_format.h"

static char dir[] = "/tmp/loom-trace-test.XXXXXX";

LOOM_TRACE_TYPE (t_phase, "test", "phase", "bytes", "records", "partition");
LOOM_TRACE_TYPE (t_inner, "test", "inner");
LOOM_TRACE_TYPE (t_mark, "test", "mark", "value:i");
LOOM_TRACE_TYPE (t_algo, "test", "algo", "name:s");
LOOM_TRACE_TYPE (t_send, "test", "send", "flow", "peer", "bytes");

struct file {
    void *map;
    size_t len;
    const struct loom_trace_header *h;
};

static void file_open (struct file *f, const char *path)
{
    int fd = open (path, O_RDONLY);
    assert_true (fd >= 0);
    struct stat st;
    assert_int_equal (fstat (fd, &st), 0);
    f->len = (size_t)st.st_size;
    assert_true (f->len >= LOOM_TRACE_HEADER_SIZE);
    f->map = mmap (NULL, f->len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true (f->map != MAP_FAILED);
    close (fd);
    f->h = f->map;
    assert_memory_equal (f->h->magic, LOOM_TRACE_MAGIC, 8);
    assert_int_equal (f->h->version, LOOM_TRACE_VERSION);
}

static void file_close (struct file *f)
{
    munmap (f->map, f->len);
}

static const char *str (const struct file *f, uint32_t id)
{
    assert_true (id >= 1 && id <= f->h->strings_max);
    const struct loom_trace_string *s =
        (const void *)((const char *)f->map + f->h->strings_off
                       + (id - 1) * LOOM_TRACE_STRING_SIZE);
    assert_int_equal (s->valid, LOOM_TRACE_VALID_STRING);
    return s->text;
}

static const struct loom_trace_typedef *type (const struct file *f, uint32_t id)
{
    const struct loom_trace_typedef *t =
        (const void *)((const char *)f->map + f->h->types_off
                       + (id - 1) * LOOM_TRACE_TYPE_SIZE);
    assert_int_equal (t->valid, LOOM_TRACE_VALID_TYPE);
    return t;
}

/* Written (kind != 0) events, in slot order. */
static size_t
events (const struct file *f, const struct loom_trace_event **out, size_t max)
{
    size_t n = 0;
    const char *p = (const char *)f->map + f->h->events_off;
    const char *end = (const char *)f->map + f->len;
    for (; p + LOOM_TRACE_EVENT_SIZE <= end; p += LOOM_TRACE_EVENT_SIZE) {
        const struct loom_trace_event *e = (const void *)p;
        if (e->kind && n < max)
            out[n++] = e;
    }
    return n;
}

static char *prefix (const char *name)
{
    static char buf[256];
    snprintf (buf, sizeof (buf), "%s/%s", dir, name);
    return buf;
}

static int setup (void **state)
{
    return mkdtemp (dir) ? 0 : -1;
}

static int teardown (void **state)
{
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", dir);
    return system (cmd) == 0 ? 0 : -1;
}

static void spans_args_and_nesting (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix ("basic");
    p.rank = 3;
    p.size = 4;
    p.trace_id = 0xabcdef0123456789ull;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    loom_error_t error;
    assert_int_equal (loom_trace_start (&p, &error), 0);
    assert_true (loom_trace_enabled ());
    assert_int_equal (loom_trace_id (), 0xabcdef0123456789ull);
    char expect[300];
    snprintf (expect, sizeof (expect), "%s.rank3", p.path);
    assert_string_equal (loom_trace_file (), expect);

    /* Starting twice is refused. */
    assert_int_equal (loom_trace_start (&p, &error), -1);
    assert_int_equal (errno, EBUSY);

    loom_trace_span_t outer = loom_trace_begin (&t_phase, 10, 20, 7);
    assert_true (outer != 0);
    loom_trace_span_t inner = loom_trace_begin (&t_inner);
    loom_trace_instant (&t_mark, -5);
    loom_trace_end (inner);
    loom_trace_instant (&t_algo, loom_trace_str ("node-aware"));
    loom_trace_flow_out (&t_send, loom_trace_flow_id (3, 1, 9), 1, 4096);
    loom_trace_end (outer, 1000); /* replaces bytes only */
    assert_int_equal (loom_trace_str ("node-aware"), loom_trace_str ("node-aware"));
    assert_int_equal (loom_trace_stop (), 0);
    assert_false (loom_trace_enabled ());
    assert_null (loom_trace_file ());
    /* Off: no span, and ending it is harmless. */
    loom_trace_span_t off = loom_trace_begin (&t_phase, 1, 2, 3);
    assert_int_equal (off, 0);
    loom_trace_end (off, 5);

    struct file f;
    file_open (&f, expect);
    assert_int_equal (f.h->state, LOOM_TRACE_STATE_CLOSED);
    assert_int_equal (f.h->rank, 3);
    assert_int_equal (f.h->size, 4);
    assert_int_equal (f.h->trace_id, 0xabcdef0123456789ull);
    /* 'events' counts slots: the thread's whole block of 256. */
    assert_int_equal (f.h->events, 256);
    assert_int_equal (f.h->dropped, 0);
    /* Closed files are cut to their used size. */
    assert_int_equal (f.len, f.h->events_off + 256 * LOOM_TRACE_EVENT_SIZE);

    const struct loom_trace_event *ev[16];
    assert_int_equal (events (&f, ev, 16), 7);
    static const int kinds[] = {LOOM__TRACE_K_BEGIN,   LOOM__TRACE_K_BEGIN,
                                LOOM__TRACE_K_INSTANT, LOOM__TRACE_K_END,
                                LOOM__TRACE_K_INSTANT, LOOM__TRACE_K_FLOW_OUT,
                                LOOM__TRACE_K_END};
    for (int i = 0; i < 7; i++) {
        assert_int_equal (ev[i]->kind, kinds[i]);
        if (i)
            assert_true (ev[i]->ts >= ev[i - 1]->ts);
        assert_true (ev[i]->tid != 0);
    }
    /* Begin of outer: args, no parent; inner's parent is outer. */
    const struct loom_trace_typedef *tp = type (&f, ev[0]->type);
    assert_string_equal (str (&f, tp->category), "test");
    assert_string_equal (str (&f, tp->name), "phase");
    assert_int_equal (tp->nargs, 3);
    assert_string_equal (str (&f, tp->args[2]), "partition");
    assert_int_equal (ev[0]->arg[0], 10);
    assert_int_equal (ev[0]->arg[2], 7);
    assert_int_equal (ev[0]->parent, 0);
    assert_int_equal (ev[1]->parent, ev[0]->span);
    assert_int_equal (type (&f, ev[1]->type)->nargs, 0);
    /* The instant sits in the inner span; signed args survive. */
    assert_int_equal (ev[2]->span, ev[1]->span);
    assert_int_equal ((int64_t)ev[2]->arg[0], -5);
    assert_string_equal (str (&f, type (&f, ev[2]->type)->args[0]), "value:i");
    assert_int_equal (ev[3]->span, ev[1]->span);
    assert_int_equal (ev[3]->given, 0);
    /* After the inner span ended, instants sit in the outer one again. */
    assert_int_equal (ev[4]->span, ev[0]->span);
    assert_string_equal (str (&f, (uint32_t)ev[4]->arg[0]), "node-aware");
    assert_int_equal (ev[5]->arg[0], loom_trace_flow_id (3, 1, 9));
    assert_int_equal (ev[5]->arg[2], 4096);
    /* End of outer gives one argument. */
    assert_int_equal (ev[6]->span, ev[0]->span);
    assert_int_equal (ev[6]->given, 1);
    assert_int_equal (ev[6]->arg[0], 1000);
    file_close (&f);
}

static void restart_reregisters_types (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix ("again");
    p.rank = 0;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    for (int round = 0; round < 2; round++) {
        assert_int_equal (loom_trace_start (&p, NULL), 0);
        loom_trace_instant (&t_inner);
        loom_trace_instant (&t_mark, 1);
        assert_int_equal (loom_trace_stop (), 0);
        struct file f;
        file_open (&f, prefix ("again.rank0"));
        const struct loom_trace_event *ev[4];
        assert_int_equal (events (&f, ev, 4), 2);
        /* Fresh type table each time: ids 1 and 2, names right. */
        assert_string_equal (str (&f, type (&f, ev[0]->type)->name), "inner");
        assert_string_equal (str (&f, type (&f, ev[1]->type)->name), "mark");
        file_close (&f);
    }
}

static void many_events_cross_chunks (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix ("many");
    p.rank = 1;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    assert_int_equal (loom_trace_start (&p, NULL), 0);
    const uint64_t n = 200000; /* > 3 chunks of 65536 */
    for (uint64_t i = 0; i < n; i++)
        loom_trace_instant (&t_mark, i);
    assert_int_equal (loom_trace_stop (), 0);
    struct file f;
    file_open (&f, prefix ("many.rank1"));
    assert_int_equal (f.h->events, (n + 255) / 256 * 256);
    const struct loom_trace_event *e =
        (const void *)((const char *)f.map + f.h->events_off);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal (e[i].arg[0], i);
    file_close (&f);
}

static void size_cap_drops_and_counts (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix ("cap");
    p.rank = 0;
    p.max_bytes = 1; /* one chunk at least */
    p.flags = LOOM_TRACE_NO_SIGNALS;
    assert_int_equal (loom_trace_start (&p, NULL), 0);
    for (int i = 0; i < 70000; i++)
        loom_trace_instant (&t_mark, i);
    assert_int_equal (loom_trace_stop (), 0);
    struct file f;
    file_open (&f, prefix ("cap.rank0"));
    assert_int_equal (f.h->events, 65536);
    assert_int_equal (f.h->dropped, 70000 - 65536);
    file_close (&f);
}

static void bad_params (void **state)
{
    loom_error_t error;
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    assert_int_equal (loom_trace_start (NULL, &error), -1);
    assert_int_equal (errno, EINVAL);
    unsetenv ("LOOM_TRACE");
    assert_int_equal (loom_trace_start (&p, &error), -1);
    assert_int_equal (errno, EINVAL);
    assert_non_null (strstr (error.text, "LOOM_TRACE"));
    p.path = prefix ("bad");
    p.flags = 0x100;
    assert_int_equal (loom_trace_start (&p, &error), -1);
    assert_int_equal (errno, EINVAL);
    p.flags = 0;
    p.path = "/nonexistent-dir/x";
    assert_int_equal (loom_trace_start (&p, &error), -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (error.text, "cannot create /nonexistent-dir/x."));
    assert_false (loom_trace_enabled ());
    assert_int_equal (loom_trace_set_rank (-1, 0), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_trace_stop (), 0); /* not started: fine */
}

static void trace_ids (void **state)
{
    char buf[17];
    uint64_t id = 0;
    assert_string_equal (loom_trace_id_format (0x00ff00ff00ff00ffull, buf),
                         "00ff00ff00ff00ff");
    assert_int_equal (loom_trace_id_parse ("00FF00ff00ff00fF", &id), 0);
    assert_int_equal (id, 0x00ff00ff00ff00ffull);
    static const char *bad[] = {
        "", "123", "00ff00ff00ff00ffa", "00ff00ff00ff00fg", "0000000000000000", NULL};
    for (int i = 0; i < 6; i++) {
        errno = 0;
        assert_int_equal (loom_trace_id_parse (bad[i], &id), -1);
        assert_int_equal (errno, EINVAL);
    }
}

/* Run 'fn' in a child with LOOM_TRACE=<prefix> and rank 'rank' from the environment;
 * returns its wait status.
 */
static int in_child (const char *pfx, const char *rank, void (*fn) (void))
{
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        setenv ("LOOM_TRACE", pfx, 1);
        setenv ("OMPI_COMM_WORLD_RANK", rank, 1);
        setenv ("OMPI_COMM_WORLD_SIZE", "8", 1);
        setenv ("LOOM_TRACE_ID", "1122334455667788", 1);
        loom_trace_stop (); /* forget the parent's decision: decide from env again */
        loom__trace_state = 2;
        fn ();
        _exit (0);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    return status;
}

static void emit_then_kill (void)
{
    for (int i = 0; i < 1000; i++)
        loom_trace_instant (&t_mark, i);
    (void)loom_trace_begin (&t_phase, 1, 2, 3); /* never ended */
    raise (SIGKILL);
}

static void emit_then_abort (void)
{
    (void)loom_trace_begin (&t_phase, 1, 2, 3);
    abort ();
}

static void emit_then_exit (void)
{
    loom_trace_instant (&t_mark, 42);
    exit (0); /* atexit closes the trace */
}

static void env_start_and_crashes (void **state)
{
    int st = in_child (prefix ("env"), "5", emit_then_exit);
    assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    struct file f;
    const struct loom_trace_event *ev[2048];
    file_open (&f, prefix ("env.rank5"));
    assert_int_equal (f.h->state, LOOM_TRACE_STATE_CLOSED);
    assert_int_equal (f.h->size, 8);
    assert_int_equal (f.h->trace_id, 0x1122334455667788ull);
    assert_int_equal (events (&f, ev, 2048), 1);
    assert_int_equal (ev[0]->arg[0], 42);
    file_close (&f);

    /* SIGKILL: no handler runs, yet every event is in the file. */
    st = in_child (prefix ("kill"), "2", emit_then_kill);
    assert_true (WIFSIGNALED (st) && WTERMSIG (st) == SIGKILL);
    file_open (&f, prefix ("kill.rank2"));
    assert_int_equal (f.h->state, LOOM_TRACE_STATE_RUNNING);
    assert_int_equal (events (&f, ev, 2048), 1001);
    assert_int_equal (ev[999]->arg[0], 999);
    assert_int_equal (ev[1000]->kind, LOOM__TRACE_K_BEGIN);
    file_close (&f);

    /* SIGABRT: the handler marks the trace and records the signal, then dies. */
    st = in_child (prefix ("abort"), "0", emit_then_abort);
    assert_true (WIFSIGNALED (st) && WTERMSIG (st) == SIGABRT);
    file_open (&f, prefix ("abort.rank0"));
    assert_int_equal (f.h->state, LOOM_TRACE_STATE_SIGNALED);
    assert_int_equal (f.h->signal, SIGABRT);
    assert_int_equal (events (&f, ev, 2048), 2);
    assert_int_equal (ev[1]->kind, LOOM__TRACE_K_SIGNAL);
    assert_int_equal (ev[1]->arg[0], SIGABRT);
    file_close (&f);
}

static void set_rank_renames (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix ("late");
    p.flags = LOOM_TRACE_NO_SIGNALS;
    unsetenv ("OMPI_COMM_WORLD_RANK");
    unsetenv ("PMIX_RANK");
    unsetenv ("LOOM_RANK");
    unsetenv ("PMI_RANK");
    assert_int_equal (loom_trace_start (&p, NULL), 0);
    char procfile[300];
    snprintf (procfile, sizeof (procfile), "%s.proc%d", p.path, (int)getpid ());
    assert_string_equal (loom_trace_file (), procfile);
    loom_trace_instant (&t_mark, 1);
    assert_int_equal (loom_trace_set_rank (6, 7), 0);
    loom_trace_instant (&t_mark, 2);
    assert_int_equal (loom_trace_stop (), 0);
    assert_int_equal (access (procfile, F_OK), -1);
    struct file f;
    file_open (&f, prefix ("late.rank6"));
    assert_int_equal (f.h->rank, 6);
    assert_int_equal (f.h->size, 7);
    const struct loom_trace_event *ev[4];
    assert_int_equal (events (&f, ev, 4), 2);
    file_close (&f);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (spans_args_and_nesting),
        cmocka_unit_test (restart_reregisters_types),
        cmocka_unit_test (many_events_cross_chunks),
        cmocka_unit_test (size_cap_drops_and_counts),
        cmocka_unit_test (bad_params),
        cmocka_unit_test (trace_ids),
        cmocka_unit_test (env_start_and_crashes),
        cmocka_unit_test (set_rank_renames),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
