// SPDX-License-Identifier: MIT
// loom-peer-mrmpi-wordcount: the MR-MPI (Sandia MapReduce-MPI) wordcount that Loom's
// wordcount is measured against, written in MR-MPI's own idioms: map over the input
// files split into chunks at newlines, compress (MR-MPI's combiner), collate, reduce.
// Words are runs of bytes other than " \t\n\v\f\r", as in Loom's wordcount.
//
// Debian's libMapReduceMPI.so exports only the C++ API: its cmapreduce.h declares C
// functions the library does not contain, and mrmpi_config.h includes a VTK header
// that is not installed. So include mapreduce.h and keyvalue.h directly.
//
// Usage: mpirun -np N loom-peer-mrmpi-wordcount [--memsize MB] [--output PREFIX]
// FILE... Each rank writes "word<TAB>count" lines to PREFIX.<rank> when --output is
// given.
#include <mpi.h>
#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

static inline bool is_space (unsigned char c)
{
    return c == ' ' || (unsigned char)(c - 9) <= 4;
}

// map: one chunk of a file (ending at a newline); emit (word, 1).
static void map_chunk (int, char *str, int size, KeyValue *kv, void *)
{
    const uint64_t one = 1;
    // MR-MPI NUL-terminates each chunk and counts the NUL in 'size'.
    if (size > 0 && str[size - 1] == '\0')
        size--;
    char *p = str, *end = str + size;
    while (p < end) {
        while (p < end && is_space ((unsigned char)*p))
            p++;
        char *w = p;
        while (p < end && !is_space ((unsigned char)*p))
            p++;
        if (p > w)
            kv->add (w, (int)(p - w), (char *)&one, (int)sizeof (one));
    }
}

// Sum the uint64 counts of one key, including keys whose values span several pages
// (MR-MPI then passes nvalues == 0 and the values come block by block).
static void sum_counts (char *key,
                        int keybytes,
                        char *multivalue,
                        int nvalues,
                        int *valuebytes,
                        KeyValue *kv,
                        void *ptr)
{
    MapReduce *mr = (MapReduce *)ptr;
    uint64_t total = 0;
    if (nvalues > 0) {
        for (int i = 0; i < nvalues; i++) {
            uint64_t v;
            memcpy (&v, multivalue + (size_t)i * sizeof (v), sizeof (v));
            total += v;
        }
    } else {
        int nblocks;
        uint64_t n = mr->multivalue_blocks (nblocks);
        (void)n;
        for (int b = 0; b < nblocks; b++) {
            char *mv;
            int *vb;
            int nv = mr->multivalue_block (b, &mv, &vb);
            for (int i = 0; i < nv; i++) {
                uint64_t v;
                memcpy (&v, mv + (size_t)i * sizeof (v), sizeof (v));
                total += v;
            }
        }
    }
    (void)valuebytes;
    kv->add (key, keybytes, (char *)&total, (int)sizeof (total));
}

static void write_pair (char *key, int keybytes, char *value, int, void *ptr)
{
    FILE *f = (FILE *)ptr;
    uint64_t v;
    memcpy (&v, value, sizeof (v));
    fwrite (key, 1, (size_t)keybytes, f);
    fprintf (f, "\t%llu\n", (unsigned long long)v);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    int rank, size;
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    int memsize = 64;
    const char *output = nullptr;
    std::vector<char *> files;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--memsize") == 0 && i + 1 < argc)
            memsize = atoi (argv[++i]);
        else if (strcmp (argv[i], "--output") == 0 && i + 1 < argc)
            output = argv[++i];
        else
            files.push_back (argv[i]);
    }
    if (files.empty () || memsize <= 0) {
        if (rank == 0)
            fprintf (stderr, "Usage: loom-peer-mrmpi-wordcount [--memsize MB] "
                             "[--output PREFIX] FILE...\n");
        MPI_Finalize ();
        return 1;
    }

    MPI_Barrier (MPI_COMM_WORLD);
    double t0 = MPI_Wtime ();
    MapReduce *mr = new MapReduce (MPI_COMM_WORLD);
    mr->memsize = memsize;
    mr->verbosity = 0;
    mr->timer = 0;
    // Out-of-core pages go to $TMPDIR (or /tmp), not the working directory, and a
    // killed run's files are found there.
    const char *tmp = getenv ("TMPDIR");
    mr->set_fpath (tmp && *tmp ? tmp : "/tmp");
    // Chunks of at most ~memsize/4 so each fits a page; at least 8 per rank.
    int nmap = size * 8;
    mr->map (nmap, (int)files.size (), files.data (), 0, 0, '\n', 4096, map_chunk,
             nullptr);
    uint64_t words = mr->kv_stats (0);
    mr->compress (sum_counts, mr);
    mr->collate (nullptr);
    uint64_t distinct = mr->reduce (sum_counts, mr);
    MPI_Barrier (MPI_COMM_WORLD);
    double t1 = MPI_Wtime ();

    if (output) {
        char path[4096];
        snprintf (path, sizeof (path), "%s.%d", output, rank);
        FILE *f = fopen (path, "w");
        if (!f) {
            fprintf (stderr, "loom-peer-mrmpi-wordcount: cannot write %s\n", path);
            MPI_Abort (MPI_COMM_WORLD, 1);
        }
        mr->scan (write_pair, f);
        fclose (f);
    }
    if (rank == 0)
        printf ("{\"program\":\"mrmpi-wordcount\",\"ranks\":%d,\"words\":%llu,"
                "\"distinct\":%llu,\"job_sec\":%.3f,\"memsize_mb\":%d}\n",
                size, (unsigned long long)words, (unsigned long long)distinct, t1 - t0,
                memsize);
    delete mr;
    MPI_Finalize ();
    return 0;
}
