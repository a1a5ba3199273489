/* SPDX-License-Identifier: MIT */
/* The trace reader, merge, export and summary on synthetic traces with chosen times,
 * and on bad input: truncated files, other versions, garbage, mixed jobs.
 */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/trace.h>
#include <loom/trace_tools.h>

#include "perfetto_check.h"
#include "synth.h"

#define MS 1000000ull

static char dir[] = "/tmp/loom-trace-read.XXXXXX";
static struct synth S; /* big: keep off the stack */

static const char *path_in (const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf (buf[k], sizeof (buf[k]), "%s/%s", dir, name);
    return buf[k];
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

/* A 4-rank job: "map" per rank over 3 partitions each, rank 'slow' doing 3x the records
 * and taking 3x the time; a "job" span around it; a flow from each rank to the next.
 */
static void write_job (const char *prefix, int slow, uint64_t id)
{
    for (int r = 0; r < 4; r++) {
        synth_init (&S, r, 4, id);
        uint16_t tjob = synth_type (&S, "app", "job", NULL, NULL, NULL);
        uint16_t tmap =
            synth_type (&S, "mapreduce", "map", "records", "bytes", "partition");
        uint16_t tsend = synth_type (&S, "comm", "send", "flow", "peer", "bytes");
        uint16_t tact = synth_type (&S, "pregel", "active", "vertices", NULL, NULL);
        uint16_t tres =
            synth_type (&S, "pregel", "residual", "value:f", "who:s", "d:i");
        uint64_t unit = r == slow ? 30 * MS : 10 * MS;
        uint32_t job = S.next_span;
        S.next_span++;
        struct loom_trace_event *b = synth_event (&S, LOOM__TRACE_K_BEGIN, tjob, 0);
        b->span = job;
        for (int p = 0; p < 3; p++) {
            uint64_t recs = r == slow ? 3000 : 1000;
            synth_span (&S, tmap, job, 1000 + p * unit, 1000 + (p + 1) * unit - 1, recs,
                        recs * 100, (uint64_t)(r * 3 + p));
        }
        struct loom_trace_event *e =
            synth_event (&S, LOOM__TRACE_K_FLOW_OUT, tsend, 3 * unit + 10);
        e->span = job;
        e->arg[0] = loom_trace_flow_id ((uint32_t)r, (uint32_t)(r + 1) % 4, 0);
        e->arg[1] = (uint64_t)(r + 1) % 4;
        e->arg[2] = 1 << 20;
        e->given = 7;
        e = synth_event (&S, LOOM__TRACE_K_FLOW_IN, tsend, 3 * unit + 20);
        e->span = job;
        e->arg[0] = loom_trace_flow_id ((uint32_t)(r + 3) % 4, (uint32_t)r, 0);
        e->arg[1] = (uint64_t)(r + 3) % 4;
        e->arg[2] = 1 << 20;
        e->given = 7;
        e = synth_event (&S, LOOM__TRACE_K_COUNTER, tact, 3 * unit + 30);
        e->arg[0] = 77;
        e->given = 1;
        e = synth_event (&S, LOOM__TRACE_K_INSTANT, tres, 3 * unit + 40);
        e->arg[0] = loom_trace_f64 (0.125);
        e->arg[1] = synth_str (&S, "quote\" back\\ \x01 \xc3\xa9");
        e->arg[2] = (uint64_t)-3;
        e->given = 7;
        e = synth_event (&S, LOOM__TRACE_K_END, tjob, 3 * unit + 50);
        e->span = job;
        char path[300];
        snprintf (path, sizeof (path), "%s.rank%d", prefix, r);
        assert_int_equal (synth_write (&S, path), 0);
    }
}

static void open_prefix_spans_and_events (void **state)
{
    write_job (path_in ("a"), 1, 0xaa);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("a"), &error);
    assert_non_null (t);
    assert_int_equal (loom_trace_job_id (t), 0xaa);
    assert_int_equal (loom_trace_nprocs (t), 4);
    for (size_t i = 0; i < 4; i++) {
        struct loom_trace_proc_info p;
        assert_int_equal (loom_trace_proc (t, i, &p), 0);
        assert_int_equal (p.rank, (int)i);
        assert_int_equal (p.state, LOOM_TRACE_PROC_CLOSED);
        assert_int_equal (p.spans, 4);
        assert_int_equal (p.events, 12);
        struct loom_trace_span_info s;
        assert_int_equal (loom_trace_span (t, i, 0, &s), 0);
        assert_string_equal (s.name, "job");
        assert_int_equal (s.start_ns, 0);
        assert_int_equal (loom_trace_span (t, i, 2, &s), 0);
        assert_string_equal (s.category, "mapreduce");
        assert_string_equal (s.name, "map");
        assert_string_equal (s.argnames[2], "partition");
        assert_int_equal (s.args[2], i * 3 + 1);
        uint64_t unit = i == 1 ? 30 * MS : 10 * MS;
        assert_int_equal (s.start_ns, 1000 + unit);
        assert_int_equal (s.end_ns - s.start_ns, unit - 1);
        assert_int_equal (s.parent, 1);
        struct loom_trace_event_info e;
        assert_int_equal (loom_trace_event (t, i, 11, &e), 0);
        assert_int_equal (e.kind, LOOM__TRACE_K_END);
    }
    /* Bad indexes. */
    struct loom_trace_proc_info p;
    struct loom_trace_span_info s;
    struct loom_trace_event_info e;
    assert_int_equal (loom_trace_proc (t, 4, &p), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_trace_span (t, 0, 4, &s), -1);
    assert_int_equal (loom_trace_event (t, 0, 12, &e), -1);
    assert_int_equal (loom_trace_nspans (t, 9), 0);
    assert_int_equal (loom_trace_nevents (NULL, 0), 0);
    loom_trace_close (t);
    loom_trace_close (NULL);
}

static char *export_string (const loom_trace_t *t,
                            const struct loom_trace_export_params *prm)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    loom_error_t error;
    assert_true (loom_trace_export_json (t, prm, f, &error) > 0);
    fclose (f);
    return text;
}

static void merge_roundtrip (void **state)
{
    write_job (path_in ("m"), 2, 0xbb);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("m"), &error);
    assert_non_null (t);
    assert_int_equal (loom_trace_write (t, path_in ("m.trace"), &error), 0);
    loom_trace_t *m = loom_trace_open (path_in ("m.trace"), &error);
    assert_non_null (m);
    assert_int_equal (loom_trace_nprocs (m), 4);
    /* Same content: the exports are identical byte for byte. */
    char *a = export_string (t, NULL), *b = export_string (m, NULL);
    assert_string_equal (a, b);
    free (a);
    free (b);
    /* Merging a merged trace with nothing else is the identity too. */
    const char *both[] = {path_in ("m.trace")};
    loom_trace_t *mm = loom_trace_open_many (both, 1, &error);
    assert_non_null (mm);
    loom_trace_close (mm);
    loom_trace_close (m);
    loom_trace_close (t);
    /* Unwritable output: one line naming it, no file left behind. */
    assert_int_equal (loom_trace_write (t = loom_trace_open (path_in ("m"), &error),
                                        "/nonexistent-dir/out.trace", &error),
                      -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (error.text, "/nonexistent-dir/out.trace"));
    loom_trace_close (t);
}

/* What the launcher and loomd call at job end: the job's rank files that exist (and
 * extra files), merged into PREFIX.trace; stale files of other ranks left alone.
 */
static void merge_ranks_at_job_end (void **state)
{
    loom_error_t error;
    char pre[256]; /* path_in() reuses its buffers */
    snprintf (pre, sizeof (pre), "%s", path_in ("end"));
    write_job (pre, 1, 0xcc);
    char p[320], out[320];
    /* A file of rank 7 from an earlier, bigger job: not one of this job's 4 ranks. */
    synth_init (&S, 7, 8, 0xdd);
    synth_type (&S, "a", "b", NULL, NULL, NULL);
    snprintf (p, sizeof (p), "%s.rank7", pre);
    assert_int_equal (synth_write (&S, p), 0);
    snprintf (out, sizeof (out), "%s.trace", pre);
    const char *extra[] = {path_in ("no-such-launcher-file")};
    assert_int_equal (loom_trace_merge_ranks (pre, 4, extra, 1, NULL, &error), 4);
    loom_trace_t *t = loom_trace_open (out, &error);
    assert_non_null (t);
    assert_int_equal (loom_trace_nprocs (t), 4);
    assert_int_equal (loom_trace_job_id (t), 0xcc);
    loom_trace_close (t);
    /* A rank that left no file (it never traced, or died first) is skipped. */
    snprintf (p, sizeof (p), "%s.rank3", pre);
    assert_int_equal (unlink (p), 0);
    assert_int_equal (loom_trace_merge_ranks (pre, 4, NULL, 0, path_in ("e3"), &error),
                      3);
    assert_non_null (t = loom_trace_open (path_in ("e3"), &error));
    assert_int_equal (loom_trace_nprocs (t), 3);
    loom_trace_close (t);
    /* No file at all: nothing written, 0. */
    assert_int_equal (
        loom_trace_merge_ranks (path_in ("none"), 4, NULL, 0, NULL, &error), 0);
    assert_int_equal (access (path_in ("none.trace"), F_OK), -1);
    /* Files of two jobs: refused with one line, no output. */
    assert_int_equal (
        loom_trace_merge_ranks (pre, 8, NULL, 0, path_in ("mixed"), &error), -1);
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (error.text, "rank7"));
    assert_int_equal (access (path_in ("mixed"), F_OK), -1);
    assert_int_equal (loom_trace_merge_ranks (NULL, 4, NULL, 0, NULL, &error), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_trace_merge_ranks (pre, -1, NULL, 0, NULL, &error), -1);
    assert_int_equal (errno, EINVAL);
}

static void export_is_valid_perfetto (void **state)
{
    write_job (path_in ("e"), 0, 0xcc);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("e"), &error);
    assert_non_null (t);
    char *text = export_string (t, NULL);
    struct perfetto_stats st;
    char why[256] = "";
    if (perfetto_check (text, &st, why, sizeof (why)) < 0)
        fail_msg ("invalid export: %s", why);
    assert_int_equal (st.processes, 4);
    assert_int_equal (st.slices, 16);
    assert_int_equal (st.flows_out, 4);
    assert_int_equal (st.flows_in, 4);
    assert_int_equal (st.flows_matched, 4);
    assert_int_equal (st.counters, 4);
    assert_int_equal (st.instants, 4);
    /* Typed args: a double, an escaped string, a signed value. */
    assert_non_null (strstr (text, "\"value\":0.125"));
    assert_non_null (
        strstr (text, "\"who\":\"quote\\\" back\\\\ \\u0001 \\u00c3\\u00a9\""));
    assert_non_null (strstr (text, "\"d\":-3"));
    free (text);

    /* Downsampling drops short spans; instants go last. */
    struct loom_trace_export_params prm = LOOM_TRACE_EXPORT_PARAMS_INIT;
    int64_t full = loom_trace_export_size (t, &prm, &error);
    assert_true (full > 0);
    struct loom_trace_export_plan plan;
    if (loom_trace_export_plan (t, &prm, (uint64_t)full - 1, 0, &plan, &error) < 0)
        fail_msg ("plan: %s", error.text);
    assert_true (plan.min_span_ns > 0);
    assert_int_equal (plan.nparts, 1);
    assert_true (plan.largest < full);
    prm.min_span_ns = plan.min_span_ns;
    prm.drop_instants = plan.drop_instants;
    assert_int_equal (loom_trace_export_size (t, &prm, &error), plan.largest);
    free (plan.bounds);

    /* Splitting: every part fits, every part is valid. */
    prm = (struct loom_trace_export_params)LOOM_TRACE_EXPORT_PARAMS_INIT;
    uint64_t max = (uint64_t)full * 2 / 3; /* each part repeats the process names */
    if (loom_trace_export_plan (t, &prm, max, 1, &plan, &error) < 0)
        fail_msg ("split plan under %d of %d bytes: %s", (int)max, (int)full,
                  error.text);
    assert_true (plan.nparts >= 2);
    size_t flows = 0;
    for (size_t i = 0; i < plan.nparts; i++) {
        prm.from_ns = plan.bounds[i];
        prm.to_ns = plan.bounds[i + 1];
        assert_true (loom_trace_export_size (t, &prm, &error) <= (int64_t)max);
        char *part = export_string (t, &prm);
        if (perfetto_check (part, &st, why, sizeof (why)) < 0)
            fail_msg ("part %zu invalid: %s", i, why);
        flows += st.flows_out;
        free (part);
    }
    assert_int_equal (flows, 4); /* each flow start in exactly one part */
    free (plan.bounds);

    /* Impossible fits say so. */
    prm = (struct loom_trace_export_params)LOOM_TRACE_EXPORT_PARAMS_INIT;
    assert_int_equal (loom_trace_export_plan (t, &prm, 1024, 0, &plan, &error), -1);
    assert_int_equal (errno, E2BIG);
    assert_int_equal (loom_trace_export_plan (t, &prm, 10, 0, &plan, &error), -1);
    assert_int_equal (errno, EINVAL);
    loom_trace_close (t);
}

static void summary_names_straggler (void **state)
{
    write_job (path_in ("s"), 3, 0xdd);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("s"), &error);
    assert_non_null (t);
    char *text = loom_trace_summary (t, NULL, &error);
    assert_non_null (text);
    /* Phase table: map over 4 ranks, min 30 ms, median 30 ms, max 90 ms on rank 3. */
    assert_non_null (strstr (text, "Job trace 00000000000000dd: 4 ranks"));
    const char *row = strstr (text, "  mapreduce.map ");
    assert_non_null (row);
    char line[256];
    sscanf (row, "%255[^\n]", line);
    assert_non_null (strstr (line, "30.0 ms    30.0 ms    90.0 ms  rank 3"));
    /* The straggler, and why. */
    assert_non_null (strstr (text,
                             "mapreduce.map: rank 3 took 90.0 ms, 3.0x the others'"
                             " median 30.0 ms: 3.0x records (9000 vs 3000);"
                             " 3.0x bytes (878.9 KiB vs 293.0 KiB)"));
    assert_non_null (strstr (text, "app.job: rank 3 took"));
    assert_non_null (strstr (text, "most of it in mapreduce.map"));
    assert_null (strstr (text, "rank 0 took"));
    /* Skew and slowest partitions: rank 3 owns partitions 9-11. */
    assert_non_null (strstr (text, "mapreduce.map: 12 partitions; time 3.00x"));
    assert_non_null (strstr (text, "mapreduce.map partition 9: 30.0 ms, 3000 records"));
    assert_non_null (strstr (text, "between ranks (traced transfers): 4.0 MiB in 4"));
    free (text);
    struct loom_trace_summary_params prm = LOOM_TRACE_SUMMARY_PARAMS_INIT;
    prm.straggler = 0;
    assert_null (loom_trace_summary (t, &prm, &error));
    assert_int_equal (errno, EINVAL);
    loom_trace_close (t);
}

static void killed_and_signaled_processes (void **state)
{
    /* Rank 1 died of SIGSEGV, rank 2 was killed (never closed, span left open), rank
     * 3 left no file at all.
     */
    for (int r = 0; r < 3; r++) {
        synth_init (&S, r, 4, 0xee);
        uint16_t ty = synth_type (&S, "app", "work", NULL, NULL, NULL);
        if (r == 2) {
            S.h.state = LOOM_TRACE_STATE_RUNNING;
            struct loom_trace_event *b = synth_event (&S, LOOM__TRACE_K_BEGIN, ty, 100);
            b->span = 1;
            synth_event (&S, LOOM__TRACE_K_INSTANT, ty, 5 * MS);
        } else {
            synth_span (&S, ty, 0, 100, 2 * MS, 0, 0, 0);
        }
        if (r == 1) {
            S.h.state = LOOM_TRACE_STATE_SIGNALED;
            S.h.signal = 11;
            struct loom_trace_event *e =
                synth_event (&S, LOOM__TRACE_K_SIGNAL, 0, 3 * MS);
            e->arg[0] = 11;
        }
        char path[300];
        snprintf (path, sizeof (path), "%s.rank%d", path_in ("k"), r);
        assert_int_equal (synth_write (&S, path), 0);
    }
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("k"), &error);
    assert_non_null (t);
    struct loom_trace_span_info s;
    assert_int_equal (loom_trace_span (t, 2, 0, &s), 0);
    assert_true (s.unfinished);
    assert_int_equal (s.end_ns, 5 * MS - 100); /* the job starts at the first event */
    char *text = loom_trace_summary (t, NULL, &error);
    assert_non_null (strstr (text, "Missing: 1 of 4 ranks left no trace: 3\n"));
    assert_non_null (strstr (text, "Died: rank 1 (pid 1001 on node0) died of signal 11"
                                   " (SIGSEGV)"));
    assert_non_null (strstr (text, "Died: rank 2 (pid 1002 on node1) never closed"));
    free (text);
    char *json = export_string (t, NULL);
    struct perfetto_stats st;
    char why[256];
    if (perfetto_check (json, &st, why, sizeof (why)) < 0)
        fail_msg ("invalid: %s", why);
    assert_non_null (strstr (json, "\"unfinished\":true"));
    assert_non_null (strstr (json, "\"name\":\"signal 11 (SIGSEGV)\""));
    free (json);
    loom_trace_close (t);
}

/* Every bad input gives NULL, an errno, and one line naming the file and the fault. */
static void expect_bad (const void *buf, size_t len, int err, const char *what)
{
    loom_error_t error;
    errno = 0;
    loom_trace_t *t = loom_trace_parse (buf, len, "F.rank0", &error);
    if (t)
        fail_msg ("accepted bad input, expected '%s'", what);
    assert_int_equal (errno, err);
    if (!strstr (error.text, what) || strncmp (error.text, "F.rank0", 7) != 0)
        fail_msg ("error '%s' does not name F.rank0 and '%s'", error.text, what);
    assert_null (strchr (error.text, '\n'));
}

static void bad_input (void **state)
{
    synth_init (&S, 0, 1, 0x11);
    uint16_t ty = synth_type (&S, "a", "b", "x", NULL, NULL);
    synth_span (&S, ty, 0, 10, 20, 1, 2, 3);
    size_t len;
    uint8_t *img = synth_image (&S, &len);
    loom_error_t error;
    loom_trace_t *ok = loom_trace_parse (img, len, "F.rank0", &error);
    assert_non_null (ok);
    loom_trace_close (ok);

    expect_bad (img, 0, EPROTO, "not a Loom trace");
    expect_bad ("garbage garbage garbage", 23, EPROTO, "not a Loom trace");
    expect_bad (img, 12, EPROTO, "truncated");
    expect_bad (img, 100, EPROTO, "truncated");
    expect_bad (img, LOOM_TRACE_HEADER_SIZE + 10, EPROTO, "truncated");
    expect_bad (img, len - 1, EPROTO, "truncated: file ends inside event 1");
    expect_bad (img, len - LOOM_TRACE_EVENT_SIZE, EPROTO,
                "truncated: the header counts 2 events, the file holds 1");

    uint8_t *bad = malloc (len);
    struct loom_trace_header h;
#define MUTATE(stmt, err, what)                                                        \
    do {                                                                               \
        memcpy (bad, img, len);                                                        \
        memcpy (&h, bad, sizeof (h));                                                  \
        stmt;                                                                          \
        memcpy (bad, &h, sizeof (h));                                                  \
        expect_bad (bad, len, err, what);                                              \
    } while (0)
    MUTATE (h.version = 2, ENOTSUP,
            "trace format version 2; this loom reads version 1");
    MUTATE (h.byte_order = 0x04030201, EPROTO, "another byte order");
    MUTATE (h.event_size = 40, EPROTO, "corrupt header");
    MUTATE (h.types_max = 100000, EPROTO, "corrupt header");
    MUTATE (h.events_off = len + 4096, EPROTO, "truncated");
    /* A string entry, a type and an event pointing nowhere. */
    memcpy (bad, img, len);
    bad[LOOM_TRACE_HEADER_SIZE + 4] = 200; /* string 1 length */
    expect_bad (bad, len, EPROTO, "corrupt: bad string table entry 1");
    memcpy (bad, img, len);
    memcpy (&h, img, sizeof (h));
    bad[h.types_off + 8] = 99; /* category string id */
    expect_bad (bad, len, EPROTO, "corrupt: bad type table entry 1");
    memcpy (bad, img, len);
    bad[h.events_off + 16] = 9; /* event 0 type */
    expect_bad (bad, len, EPROTO, "corrupt: event 0 has type 9 of 1");
    memcpy (bad, img, len);
    bad[h.events_off + 18] = 42; /* event 0 kind */
    expect_bad (bad, len, EPROTO, "corrupt: event 0 has kind 42");

    /* Job traces: truncated table, process past the end, other version. */
    write_job (path_in ("j"), 0, 0x22);
    loom_trace_t *t = loom_trace_open (path_in ("j"), &error);
    assert_non_null (t);
    assert_int_equal (loom_trace_write (t, path_in ("j.trace"), &error), 0);
    loom_trace_close (t);
    FILE *f = fopen (path_in ("j.trace"), "rb");
    fseek (f, 0, SEEK_END);
    size_t jlen = (size_t)ftell (f);
    rewind (f);
    uint8_t *job = malloc (jlen);
    assert_int_equal (fread (job, 1, jlen, f), jlen);
    fclose (f);
    expect_bad (job, 20, EPROTO, "truncated: 20 bytes, less than a job trace header");
    expect_bad (job, 40, EPROTO, "truncated: the process table ends past the file");
    expect_bad (job, jlen - 100, EPROTO, "truncated: process 3 lies past the end");
    job[8] = 7;
    expect_bad (job, jlen, ENOTSUP, "trace format version 7");
    free (job);
    free (bad);
    free (img);
}

static void bad_sets_of_files (void **state)
{
    loom_error_t error;
    assert_null (loom_trace_open (path_in ("nothing"), &error));
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (error.text, "nothing: no such trace"));
    assert_null (loom_trace_open (NULL, &error));
    assert_int_equal (errno, EINVAL);
    assert_null (loom_trace_open (dir, &error));
    assert_int_equal (errno, EISDIR);

    /* Files of two jobs. */
    write_job (path_in ("x"), 0, 0x33);
    synth_init (&S, 1, 4, 0x44);
    synth_type (&S, "a", "b", NULL, NULL, NULL);
    char other[300];
    snprintf (other, sizeof (other), "%s.rank1", path_in ("x"));
    assert_int_equal (synth_write (&S, other), 0);
    assert_null (loom_trace_open (path_in ("x"), &error));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (error.text, "(files of two jobs)"));

    /* Two files for one rank. */
    write_job (path_in ("y"), 0, 0x55);
    char r0[300], r0b[300];
    snprintf (r0, sizeof (r0), "%s.rank0", path_in ("y"));
    snprintf (r0b, sizeof (r0b), "%s.rank0", path_in ("z"));
    assert_int_equal (rename (r0, r0b), 0);
    const char *two[] = {r0b, path_in ("y")};
    write_job (path_in ("y"), 0, 0x55); /* rank 0 again under y */
    assert_null (loom_trace_open_many (two, 2, &error));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (error.text, "rank 0 also comes from"));
}

/* The writer's output reads back: the real path, start to end. */
LOOM_TRACE_TYPE (t_step, "test", "step", "records", "bytes");

static void writer_to_reader (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = path_in ("w");
    p.rank = 0;
    p.size = 1;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    assert_int_equal (loom_trace_start (&p, NULL), 0);
    for (int i = 0; i < 100; i++) {
        loom_trace_span_t s = loom_trace_begin (&t_step, i);
        loom_trace_end (s, i, 10 * i);
    }
    assert_int_equal (loom_trace_stop (), 0);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("w"), &error);
    assert_non_null (t);
    assert_int_equal (loom_trace_nspans (t, 0), 100);
    for (size_t i = 0; i < 100; i++) {
        struct loom_trace_span_info s;
        assert_int_equal (loom_trace_span (t, 0, i, &s), 0);
        assert_int_equal (s.args[0], i);
        assert_int_equal (s.args[1], 10 * i);
        assert_true (s.end_ns >= s.start_ns);
        assert_false (s.unfinished);
    }
    loom_trace_close (t);
}

/* Flight recorder: only the last 65536 events (one 3 MiB chunk) survive, in order. */
static void ring_keeps_the_last_events (void **state)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = path_in ("ring");
    p.rank = 0;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    p.ring_bytes = 5 << 20; /* rounds down to one chunk */
    assert_int_equal (loom_trace_start (&p, NULL), 0);
    const uint64_t n = 100000, kept = 65536;
    for (uint64_t i = 0; i < n; i++) {
        loom_trace_span_t s = loom_trace_begin (&t_step, i);
        loom_trace_end (s);
    }
    assert_int_equal (loom_trace_stop (), 0);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path_in ("ring"), &error);
    assert_non_null (t);
    struct loom_trace_proc_info pi;
    assert_int_equal (loom_trace_proc (t, 0, &pi), 0);
    assert_true (pi.ring);
    assert_int_equal (pi.events, kept);
    assert_int_equal (pi.dropped, 2 * n - kept);
    assert_int_equal (pi.spans, kept / 2);
    for (size_t i = 0; i < kept / 2; i++) {
        struct loom_trace_span_info s;
        assert_int_equal (loom_trace_span (t, 0, i, &s), 0);
        assert_int_equal (s.args[0], n - kept / 2 + i);
        assert_false (s.unfinished);
    }
    char *text = loom_trace_summary (t, NULL, &error);
    assert_non_null (strstr (text, "Ring: rank 0 kept its last events only"));
    free (text);
    loom_trace_close (t);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (open_prefix_spans_and_events),
        cmocka_unit_test (merge_roundtrip),
        cmocka_unit_test (merge_ranks_at_job_end),
        cmocka_unit_test (export_is_valid_perfetto),
        cmocka_unit_test (summary_names_straggler),
        cmocka_unit_test (killed_and_signaled_processes),
        cmocka_unit_test (bad_input),
        cmocka_unit_test (bad_sets_of_files),
        cmocka_unit_test (writer_to_reader),
        cmocka_unit_test (ring_keeps_the_last_events),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
