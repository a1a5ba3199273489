/* SPDX-License-Identifier: MIT */
/* An MPI job that traces uneven work, for the trace tests.
 *
 *   trace-job [--prefix P] [--records N] [--skew R] [--die R] [--check]
 *
 * Every rank generates N records (rank R, default the last, 3N), hashes them
 * ("test.gen", a span with records and bytes), exchanges them all-to-all
 * ("test.exchange", with a flow arrow per peer), and reduces its partition
 * ("test.reduce"). With --prefix it starts tracing itself; otherwise LOOM_TRACE does.
 * --die R makes rank R kill itself with SIGKILL in the middle of the exchange.
 * --check (ignores --prefix: temporary ones are used): after the job, rank 0 reads
 * every rank's file and checks the phases, the Perfetto export and the summary's
 * straggler, and exits non-zero on any failure. The job runs again (3 times at most)
 * while a loaded machine hides the straggler; everything else must hold every time.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include <loom/hash.h>
#include <loom/trace.h>
#include <loom/trace_tools.h>

#include "perfetto_check.h"

LOOM_TRACE_TYPE (t_gen, "test", "gen", "records", "bytes");
LOOM_TRACE_TYPE (t_exchange, "test", "exchange", "bytes", "records");
LOOM_TRACE_TYPE (t_send, "test", "send", "flow", "peer", "bytes");
LOOM_TRACE_TYPE (t_reduce, "test", "reduce", "records", "bytes", "partition");
LOOM_TRACE_TYPE (t_algo, "test", "algorithm", "name:s");

static int failures;

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf (stderr, "trace-job: FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf (stderr, __VA_ARGS__);                                             \
            fputc ('\n', stderr);                                                      \
            failures++;                                                                \
        }                                                                              \
    } while (0)

/* Rank 0, after every rank closed its trace: read it back and check it. Returns 1
 * when the summary named the straggler; timing on a loaded shared machine can hide
 * it, so that alone is a failure only when 'last' (the last attempt).
 */
static int check (const char *prefix, int size, int skew, int last)
{
    int named = size < 2;
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (prefix, &error);
    CHECK (t, "open %s: %s", prefix, error.text);
    if (!t)
        return 1;
    CHECK (loom_trace_nprocs (t) == (size_t)size, "%zu processes, expected %d",
           loom_trace_nprocs (t), size);
    for (size_t i = 0; i < loom_trace_nprocs (t); i++) {
        struct loom_trace_proc_info p;
        loom_trace_proc (t, i, &p);
        CHECK (p.rank == (int)i && p.size == size, "process %zu is rank %d of %d", i,
               p.rank, p.size);
        CHECK (p.state == LOOM_TRACE_PROC_CLOSED, "rank %d not closed", p.rank);
        int seen[3] = {0, 0, 0};
        for (size_t s = 0; s < loom_trace_nspans (t, i); s++) {
            struct loom_trace_span_info sp;
            loom_trace_span (t, i, s, &sp);
            static const char *names[] = {"gen", "exchange", "reduce"};
            for (int k = 0; k < 3; k++)
                seen[k] += strcmp (sp.name, names[k]) == 0;
            if (strcmp (sp.name, "reduce") == 0)
                CHECK (sp.args[2] == i, "rank %zu reduced partition %llu", i,
                       (unsigned long long)sp.args[2]);
        }
        CHECK (seen[0] == 1 && seen[1] == 1 && seen[2] == 1,
               "rank %zu: gen %d, exchange %d, reduce %d spans", i, seen[0], seen[1],
               seen[2]);
    }

    char *json = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&json, &len);
    CHECK (loom_trace_export_json (t, NULL, f, &error) > 0, "export: %s", error.text);
    fclose (f);
    struct perfetto_stats st;
    char why[256];
    CHECK (perfetto_check (json, &st, why, sizeof (why)) == 0, "perfetto: %s", why);
    CHECK (st.processes == (size_t)size, "export has %zu processes", st.processes);
    CHECK (st.flows_matched == (size_t)(size * (size - 1)), "export has %zu arrows",
           st.flows_matched);
    free (json);

    char *text = loom_trace_summary (t, NULL, &error);
    CHECK (text, "summary: %s", error.text);
    if (text && size >= 2) {
        char want[128];
        snprintf (want, sizeof (want), "test.gen: rank %d took", skew);
        const char *line = strstr (text, want);
        named = line != NULL;
        if (!line && last)
            CHECK (0, "summary does not name rank %d as the straggler:\n%s", skew,
                   text);
        if (!line && !last)
            fprintf (stderr, "trace-job: straggler not seen, trying again:\n%s", text);
        if (line) {
            char buf[512];
            sscanf (line, "%511[^\n]", buf);
            CHECK (strstr (buf, "3.0x records"), "straggler not explained: %s", buf);
        }
    }
    free (text);
    loom_trace_close (t);
    return named;
}

/* The traced phases, once. */
static void run_job (int rank, int size, long records, int skew, int die)
{
    /* gen: the skewed rank has 3x the records, so 3x the work. Most of a record's
     * cost is a sleep, not CPU: with more ranks than cores (and under ASan) the
     * ranks that finish early busy-poll in the exchange and steal the straggler's
     * core, which hid a CPU-only straggler in CI. A sleep keeps the 3x in wall time.
     * The barrier makes every rank start the phase together. */
    long n = rank == skew && size > 1 ? 3 * records : records;
    MPI_Barrier (MPI_COMM_WORLD);
    loom_trace_span_t s = loom_trace_begin (&t_gen);
    uint64_t acc = 0;
    for (long i = 0; i < n; i++) {
        uint64_t k = (uint64_t)i * 2654435761u + (uint64_t)rank;
        acc ^= loom_hash64 (&k, sizeof (k), acc);
    }
    struct timespec nap = {0, 100L * n}; /* 100 ns per record: 30 ms per 300,000 */
    while (nanosleep (&nap, &nap) < 0 && errno == EINTR)
        ;
    loom_trace_end (s, (uint64_t)n, (uint64_t)n * 16);

    /* exchange: 64 KiB to every peer, an arrow per peer. */
    const int chunk = 1 << 16;
    char *sendbuf = calloc ((size_t)size, (size_t)chunk);
    char *recvbuf = calloc ((size_t)size, (size_t)chunk);
    s = loom_trace_begin (&t_exchange);
    loom_trace_instant (&t_algo, loom_trace_str ("alltoall"));
    for (int p = 0; p < size; p++)
        if (p != rank)
            loom_trace_flow_out (&t_send, loom_trace_flow_id (rank, p, 0), p, chunk);
    if (rank == die)
        raise (SIGKILL);
    MPI_Alltoall (sendbuf, chunk, MPI_CHAR, recvbuf, chunk, MPI_CHAR, MPI_COMM_WORLD);
    for (int p = 0; p < size; p++)
        if (p != rank)
            loom_trace_flow_in (&t_send, loom_trace_flow_id (p, rank, 0), p, chunk);
    loom_trace_end (s, (uint64_t)chunk * (size - 1), 0);
    free (sendbuf);
    free (recvbuf);

    s = loom_trace_begin (&t_reduce, 0, 0, rank);
    uint64_t total = 0;
    MPI_Allreduce (&acc, &total, 1, MPI_UINT64_T, MPI_BXOR, MPI_COMM_WORLD);
    loom_trace_end (s, 1, 8);
}
static int start (const char *prefix, int rank, int size)
{
    struct loom_trace_params tp = LOOM_TRACE_PARAMS_INIT;
    tp.path = prefix;
    tp.rank = rank;
    tp.size = size;
    loom_error_t error;
    if (loom_trace_start (&tp, &error) < 0) {
        fprintf (stderr, "trace-job: %s\n", error.text);
        return -1;
    }
    return 0;
}

int main (int argc, char **argv)
{
    static const struct option opts[] = {
        {"prefix", 1, NULL, 'p'}, {"records", 1, NULL, 'n'}, {"skew", 1, NULL, 's'},
        {"die", 1, NULL, 'd'},    {"check", 0, NULL, 'c'},   {NULL, 0, NULL, 0},
    };
    const char *prefix = NULL;
    long records = 300000; /* 30 ms of sleep and ~2 ms of hashing per rank */
    int skew = -1, die = -1, do_check = 0, c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            prefix = optarg;
            break;
        case 'n':
            records = atol (optarg);
            break;
        case 's':
            skew = atoi (optarg);
            break;
        case 'd':
            die = atoi (optarg);
            break;
        case 'c':
            do_check = 1;
            break;
        default:
            return 2;
        }
    }
    MPI_Init (&argc, &argv);
    int rank, size;
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    if (skew < 0)
        skew = size - 1;

    if (!do_check) {
        if (prefix && start (prefix, rank, size) < 0)
            MPI_Abort (MPI_COMM_WORLD, 1);
        run_job (rank, size, records, skew, die);
        loom_trace_stop ();
        MPI_Finalize ();
        return 0;
    }
    char tmp[64] = "";
    if (rank == 0) {
        snprintf (tmp, sizeof (tmp), "/tmp/loom-trace-job.XXXXXX");
        if (!mkdtemp (tmp))
            MPI_Abort (MPI_COMM_WORLD, 1);
    }
    MPI_Bcast (tmp, sizeof (tmp), MPI_CHAR, 0, MPI_COMM_WORLD);
    for (int attempt = 0, done = 0; !done; attempt++) {
        char p[128];
        snprintf (p, sizeof (p), "%s/job%d", tmp, attempt);
        if (start (p, rank, size) < 0)
            MPI_Abort (MPI_COMM_WORLD, 1);
        run_job (rank, size, records, skew, die);
        loom_trace_stop ();
        MPI_Barrier (MPI_COMM_WORLD);
        if (rank == 0)
            done = check (p, size, skew, attempt == 2) || attempt == 2 || failures;
        MPI_Bcast (&done, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    if (rank == 0) {
        char cmd[128];
        snprintf (cmd, sizeof (cmd), "rm -rf %s", tmp);
        if (system (cmd) != 0)
            failures++;
        if (failures == 0)
            printf ("trace-job: %d ranks traced and checked\n", size);
    }
    MPI_Bcast (&failures, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize ();
    return failures ? 1 : 0;
}
