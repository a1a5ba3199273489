/* SPDX-License-Identifier: MIT */
/* loom-bench datasets: dataset write/read bandwidth against raw POSIX I/O of the same
 * bytes in the same run, a one-shared-HDF5-file layout for comparison, and the
 * open+info time of a dataset with many partitions. Run under mpirun:
 *
 *   mpirun -np 2 loom-bench-datasets [--bytes-gib 2] [--parts 8] [--repeat 5] [--sync]
 *                  [--drop-caches] [--dir DIR] [--single] [--no-verify] [--many 1000]
 *
 * Each repeat times, between barriers (so the slowest rank counts): raw write, Loom
 * write (order alternates between repeats), then three reads (order rotates): raw
 * read(2) into buffers already in use, Loom reading into the same buffers
 * (loom_ds_part_read_into), and Loom reading into memory of its own
 * (loom_ds_part_read: the file mapped in place when its page cache is in huge pages,
 * docs/datasets.md). All three reads are compared with the same raw read, the
 * fastest a program can read bytes into memory it already has. Both sides get the
 * same conditions: the previous outputs are removed and sync(2) flushes everything
 * before each timed write, and before each timed read (with --drop-caches also the
 * page cache is dropped, so the read comes from disk); both write in 2 MiB calls.
 * Data: two u64 columns (an edge list), the same bytes on both sides. Default is
 * page-cache I/O (no fsync on either side); --sync fsyncs every file and directory
 * on both sides, as Loom's commit normally does. Loom verifies the checksum of every
 * byte it reads. One JSON line per repeat, with each phase's wall time as GiB/s and
 * the CPU seconds both ranks spent in it (getrusage: less sensitive to other load
 * than wall time), then the medians of the per-repeat ratios (Loom bandwidth / raw
 * bandwidth, and raw CPU / Loom CPU).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

#include <loom/dataset.h>

static int rank, size;
static int do_sync;
static int no_verify; /* --no-verify: shows what the checksum costs (not the target) */

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die (const char *what, const char *why)
{
    fprintf (stderr, "loom-bench-datasets: %s: %s\n", what, why);
    MPI_Abort (MPI_COMM_WORLD, 1);
}

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median (double *v, int n)
{
    qsort (v, (size_t)n, sizeof (*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_now (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
           + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void write_all (int fd, const void *buf, size_t len, const char *path)
{
    const char *p = buf;
    while (len) {
        /* 2 MiB calls, like Loom's pieces, so both sides leave the page cache in the
         * same (huge) folios. On this VM 2 MiB calls were as fast as 1 MiB ones and
         * one 128 MiB call slower (0.15 against 0.2 GiB/s): the baseline should be
         * the faster.
         */
        ssize_t n = write (fd, p, len > (2u << 20) ? (2u << 20) : len);
        if (n < 0)
            die (path, strerror (errno));
        p += n;
        len -= (size_t)n;
    }
}

static void read_all (int fd, void *buf, size_t len, const char *path)
{
    char *p = buf;
    while (len) {
        ssize_t n = read (fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (n <= 0)
            die (path, n ? strerror (errno) : "short read");
        p += n;
        len -= (size_t)n;
    }
}

static void fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

/* The baseline: each partition's two columns written back to back into one file. */
static void raw_write (
    const char *dir, uint32_t parts, const uint64_t *a, const uint64_t *b, size_t n)
{
    for (uint32_t p = (uint32_t)rank; p < parts; p += (uint32_t)size) {
        char path[4200];
        snprintf (path, sizeof (path), "%.4096s/raw-%05u.bin", dir, p);
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            die (path, strerror (errno));
        write_all (fd, a, n * 8, path);
        write_all (fd, b, n * 8, path);
        if (do_sync && fsync (fd) < 0)
            die (path, strerror (errno));
        close (fd);
    }
    if (do_sync)
        fsync_dir (dir);
}

static void
raw_read (const char *dir, uint32_t parts, uint64_t *a, uint64_t *b, size_t n)
{
    for (uint32_t p = (uint32_t)rank; p < parts; p += (uint32_t)size) {
        char path[4200];
        snprintf (path, sizeof (path), "%.4096s/raw-%05u.bin", dir, p);
        int fd = open (path, O_RDONLY);
        if (fd < 0)
            die (path, strerror (errno));
        read_all (fd, a, n * 8, path);
        read_all (fd, b, n * 8, path);
        close (fd);
    }
}

static void loom_write (
    const char *path, uint32_t parts, const uint64_t *a, const uint64_t *b, size_t n)
{
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("src:u64,dst:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = parts;
    p.flags = LOOM_DS_OVERWRITE | (do_sync ? 0 : LOOM_DS_NOSYNC);
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_WORLD, path, s, &p, &err);
    if (!w)
        die ("create", err.text);
    for (uint32_t part = (uint32_t)rank; part < parts; part += (uint32_t)size) {
        struct loom_ds_colbuf cols[2] = {{a, NULL}, {b, NULL}};
        if (loom_ds_write_partition (w, part, n, cols, &err) < 0)
            die ("write", err.text);
    }
    if (loom_ds_commit (w, &err) < 0)
        die ("commit", err.text);
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
}

/* Read this rank's partitions (the ones it wrote) into 'a' and 'b' ('into'), or into
 * the library's buffers. Each read is checked against the manifest's checksum.
 */
static void loom_read (const char *path, int into, uint64_t *a, uint64_t *b, size_t n)
{
    loom_error_t err;
    struct loom_ds_open_params op = LOOM_DS_OPEN_PARAMS_INIT;
    op.flags = no_verify ? LOOM_DS_NO_VERIFY : 0;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_WORLD, path, &op, &err);
    if (!ds)
        die ("open", err.text);
    for (uint32_t p = (uint32_t)rank; p < loom_ds_nparts (ds); p += (uint32_t)size) {
        if (loom_ds_part_records (ds, p) != n)
            die ("read", "wrong record count");
        if (into) {
            struct loom_ds_readbuf bufs[2] = {{a, n * 8, NULL}, {b, n * 8, NULL}};
            if (loom_ds_part_read_into (ds, p, bufs, &err) < 0)
                die ("read_into", err.text);
        } else {
            loom_ds_part_t *pr = loom_ds_part_read (ds, p, &err);
            if (!pr)
                die ("read", err.text);
            const uint64_t *src = loom_ds_part_column (pr, 0);
            if (src[n - 1] != (n - 1) * 0x9E3779B97F4A7C15ull)
                die ("read", "wrong value");
            loom_ds_part_destroy (pr);
        }
    }
    loom_ds_close (ds);
}

/* The data every partition holds; check() samples it after a read. */
static void fill (uint64_t *a, uint64_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        a[i] = i * 0x9E3779B97F4A7C15ull;
        b[i] = i ^ (i >> 3);
    }
}

static void check (const uint64_t *a, const uint64_t *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i += 4093)
        if (a[i] != i * 0x9E3779B97F4A7C15ull || b[i] != (i ^ (i >> 3)))
            die (what, "read back wrong data");
    if (a[n - 1] != (n - 1) * 0x9E3779B97F4A7C15ull)
        die (what, "read back wrong data");
}

/* The alternative layout: one HDF5 file for all partitions, written by all ranks
 * through MPI-IO (collective creation of every partition's datasets, independent
 * writes of each rank's partitions), contiguous layout since sizes are known here.
 */
static void single_write (
    const char *path, uint32_t parts, const uint64_t *a, const uint64_t *b, size_t n)
{
    hid_t fapl = H5Pcreate (H5P_FILE_ACCESS);
    H5Pset_fapl_mpio (fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
    H5Pset_libver_bounds (fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    hid_t f = H5Fcreate (path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0)
        die (path, "H5Fcreate (mpio) failed");
    hsize_t dim = n;
    hid_t space = H5Screate_simple (1, &dim, NULL);
    hid_t *ds = malloc (2 * parts * sizeof (*ds));
    for (uint32_t p = 0; p < parts; p++) { /* collective: every rank creates all */
        char name[64];
        snprintf (name, sizeof (name), "p%05u.src", p);
        ds[2 * p] = H5Dcreate2 (f, name, H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                                H5P_DEFAULT);
        snprintf (name, sizeof (name), "p%05u.dst", p);
        ds[2 * p + 1] = H5Dcreate2 (f, name, H5T_STD_U64LE, space, H5P_DEFAULT,
                                    H5P_DEFAULT, H5P_DEFAULT);
    }
    for (uint32_t p = (uint32_t)rank; p < parts; p += (uint32_t)size) {
        if (H5Dwrite (ds[2 * p], H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, a)
                < 0
            || H5Dwrite (ds[2 * p + 1], H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL,
                         H5P_DEFAULT, b)
                   < 0)
            die (path, "H5Dwrite (mpio) failed");
    }
    for (uint32_t p = 0; p < 2 * parts; p++)
        H5Dclose (ds[p]);
    free (ds);
    H5Sclose (space);
    if (do_sync)
        H5Fflush (f, H5F_SCOPE_GLOBAL); /* MPI_File_sync underneath */
    H5Fclose (f);
    H5Pclose (fapl);
}

static void rm_rf (const char *dir)
{
    char cmd[4300];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
    if (system (cmd) != 0)
        fprintf (stderr, "loom-bench-datasets: could not remove %s\n", dir);
}

/* Untimed, before a timed write: flush all dirty pages (neither side pays for the
 * other's writeback), then remove what this side wrote last repeat, so it writes into
 * an empty place like the other side and both reuse memory freed just before. (On a
 * VM that hands free memory back to its host, as this one does, memory freed
 * seconds earlier costs a host fault per page on reuse: remove-then-sync would give
 * the side written after the longer sync a slower write.) 'dspath' is a Loom dataset
 * or HDF5 file, or NULL for the raw files.
 */
static void before_write (const char *dir, const char *dspath, uint32_t parts)
{
    if (rank == 0) {
        sync ();
        if (dspath)
            rm_rf (dspath);
        for (uint32_t p = 0; !dspath && p < parts; p++) {
            char path[4200];
            snprintf (path, sizeof (path), "%.4096s/raw-%05u.bin", dir, p);
            unlink (path);
        }
    }
    MPI_Barrier (MPI_COMM_WORLD);
}

/* Untimed, before a timed read: flush, and with 'drop' empty the page cache so both
 * sides read from the disk.
 */
static void before_read (int drop)
{
    if (rank == 0) {
        sync ();
        if (drop) {
            FILE *f = fopen ("/proc/sys/vm/drop_caches", "w");
            if (!f || fputs ("3\n", f) < 0)
                die ("--drop-caches", "cannot write /proc/sys/vm/drop_caches");
            fclose (f);
        }
    }
    MPI_Barrier (MPI_COMM_WORLD);
}

/* Open + info of a dataset with 'nparts' partitions, as `loom ds info` does it. */
static void many (const char *dir, uint32_t nparts, int repeat)
{
    if (rank != 0)
        return;
    char path[4200];
    snprintf (path, sizeof (path), "%s/many.h5", dir);
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("src:u64,dst:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = nparts;
    p.flags = LOOM_DS_OVERWRITE | LOOM_DS_NOSYNC;
    p.partitioner = LOOM_DS_PART_HASH;
    p.key = "src";
    double t0 = now ();
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w)
        die ("many", err.text);
    uint64_t v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (uint64_t)i;
    struct loom_ds_colbuf cols[2] = {{v, NULL}, {v, NULL}};
    for (uint32_t i = 0; i < nparts; i++)
        if (loom_ds_write_partition (w, i, 100, cols, &err) < 0)
            die ("many", err.text);
    if (loom_ds_commit (w, &err) < 0)
        die ("many", err.text);
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
    double create = now () - t0;
    double *t = malloc ((size_t)repeat * sizeof (*t)),
           *cli = malloc ((size_t)repeat * sizeof (*cli));
    char self[4096], loom[4200], cmd[8600];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    self[len > 0 ? len : 0] = '\0';
    char *slash = strrchr (self, '/');
    if (slash)
        *slash = '\0';
    snprintf (loom, sizeof (loom), "%s/loom", self);
    snprintf (cmd, sizeof (cmd), "'%s' ds info --partitions '%s' >/dev/null", loom,
              path);
    for (int r = 0; r < repeat; r++) {
        t0 = now ();
        loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
        if (!ds)
            die ("many open", err.text);
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < loom_ds_nparts (ds); i++)
            bytes += loom_ds_part_size (ds, i);
        if (loom_ds_records (ds) != 100ull * nparts || bytes == 0)
            die ("many", "wrong totals");
        loom_ds_close (ds);
        t[r] = now () - t0;
        t0 = now ();
        if (system (cmd) != 0)
            die ("many", "loom ds info failed");
        cli[r] = now () - t0;
    }
    printf ("{\"bench\":\"many-partitions\",\"nparts\":%u,\"create_s\":%.3f,"
            "\"open_info_median_ms\":%.2f,\"loom_ds_info_cli_median_ms\":%.2f,"
            "\"repeats\":%d}\n",
            nparts, create, 1e3 * median (t, repeat), 1e3 * median (cli, repeat),
            repeat);
    free (t);
    free (cli);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
    double gib = 2;
    uint32_t parts = 8, nmany = 0;
    int repeat = 5, single = 0, drop = 0, c;
    const char *dirarg = NULL;
    static const struct option opts[] = {
        {"bytes-gib", 1, NULL, 'b'}, {"parts", 1, NULL, 'p'},
        {"repeat", 1, NULL, 'r'},    {"sync", 0, NULL, 's'},
        {"dir", 1, NULL, 'd'},       {"single", 0, NULL, '1'},
        {"many", 1, NULL, 'm'},      {"drop-caches", 0, NULL, 'D'},
        {"no-verify", 0, NULL, 'V'}, {NULL, 0, NULL, 0},
    };
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            gib = atof (optarg);
            break;
        case 'p':
            parts = (uint32_t)atoi (optarg);
            break;
        case 'r':
            repeat = atoi (optarg);
            break;
        case 's':
            do_sync = 1;
            break;
        case 'd':
            dirarg = optarg;
            break;
        case '1':
            single = 1;
            break;
        case 'm':
            nmany = (uint32_t)atoi (optarg);
            break;
        case 'D':
            drop = 1;
            break;
        case 'V':
            no_verify = 1;
            break;
        default:
            die ("usage", "see the top of bench_datasets.c");
        }
    }
    if (repeat < 1 || parts < 1 || gib <= 0)
        die ("usage", "bad --repeat, --parts or --bytes-gib");
    char dir[4096];
    if (rank == 0) {
        snprintf (dir, sizeof (dir), "%s/loom-bench-ds.XXXXXX",
                  dirarg ? dirarg : "/tmp");
        if (!mkdtemp (dir))
            die (dir, strerror (errno));
    }
    MPI_Bcast (dir, sizeof (dir), MPI_CHAR, 0, MPI_COMM_WORLD);
    if (nmany) {
        many (dir, nmany, repeat);
        MPI_Barrier (MPI_COMM_WORLD);
        if (rank == 0)
            rm_rf (dir);
        MPI_Finalize ();
        return 0;
    }
    size_t n = (size_t)(gib * (1u << 30) / parts / 16); /* records per partition */
    uint64_t *a = malloc (n * 8), *b = malloc (n * 8);
    if (!a || !b)
        die ("buffers", "out of memory");
    fill (a, b, n);
    double total = (double)n * 16 * parts, gibs = total / (1u << 30);
    char dspath[4200], h5path[4200];
    snprintf (dspath, sizeof (dspath), "%s/loom.h5", dir);
    snprintf (h5path, sizeof (h5path), "%s/single.h5", dir);
    /* Per repeat: ratios of write, read_into and part_read (wall time, then CPU). */
    double *ratio[7];
    for (int i = 0; i < 7; i++)
        if (!(ratio[i] = calloc ((size_t)repeat, sizeof (double))))
            die ("buffers", "out of memory");
    /* Repeat -1 is a warm-up, not counted: the first writes of a run are several
     * times slower on this VM (memory its host reclaimed faults in on first use), and
     * would penalize whichever side goes first.
     */
    for (int r = -1; r < repeat; r++) {
        /* Phases: 0 raw write, 1 Loom write, 2 raw read into a, b, 3 Loom into a, b
         * (loom_ds_part_read_into), 4 Loom into its own (loom_ds_part_read),
         * 5 one shared HDF5 file (--single). Wall seconds and CPU seconds (all ranks).
         */
        double wall[6] = {0}, cpu[6] = {0};
        for (int k = 0; k < 2 + (single ? 1 : 0); k++) {
            int ph = k == 2 ? 5 : (k + r + 4) % 2;
            before_write (dir, ph == 1 ? dspath : ph == 5 ? h5path : NULL, parts);
            double t0 = now (), c0 = cpu_now ();
            if (ph == 1)
                loom_write (dspath, parts, a, b, n);
            else if (ph == 5)
                single_write (h5path, parts, a, b, n);
            else
                raw_write (dir, parts, a, b, n);
            double used = cpu_now () - c0;
            MPI_Barrier (MPI_COMM_WORLD); /* its busy wait is not counted */
            wall[ph] = now () - t0;
            MPI_Reduce (&used, &cpu[ph], 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
        }
        for (int k = 0; k < 3; k++) {
            int ph = 2 + (k + r + 3) % 3;
            memset (a, 0, n * 8); /* untimed: a stale copy must not pass check() */
            memset (b, 0, n * 8);
            before_read (drop);
            double t0 = now (), c0 = cpu_now ();
            if (ph == 2)
                raw_read (dir, parts, a, b, n);
            else
                loom_read (dspath, ph == 3, a, b, n);
            double used = cpu_now () - c0;
            MPI_Barrier (MPI_COMM_WORLD);
            wall[ph] = now () - t0;
            MPI_Reduce (&used, &cpu[ph], 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
            if (ph < 4)
                check (a, b, n, ph == 3 ? "loom read_into" : "raw read");
        }
        fill (a, b, n); /* the next write writes the same bytes again */
        if (r < 0)
            continue;
        /* Loom bandwidth as a fraction of raw: raw time / Loom time. */
        ratio[0][r] = wall[0] / wall[1];
        ratio[1][r] = wall[2] / wall[3];
        ratio[2][r] = wall[2] / wall[4];
        ratio[3][r] = cpu[0] / cpu[1];
        ratio[4][r] = cpu[2] / cpu[3];
        ratio[5][r] = cpu[2] / cpu[4];
        ratio[6][r] = single ? wall[5] / wall[1] : 0;
        if (rank == 0) {
            double load[3] = {0, 0, 0};
            getloadavg (load, 3);
            printf ("{\"bench\":\"datasets-io\",\"repeat\":%d,\"np\":%d,\"parts\":%u,"
                    "\"gib\":%.2f,\"sync\":%d,\"cold_read\":%d,\"verify\":%d,"
                    "\"load1\":%.2f,\"raw_write_gibs\":%.3f,\"loom_write_gibs\":%.3f,"
                    "\"write_ratio\":%.3f,\"raw_read_gibs\":%.3f,"
                    "\"loom_read_into_gibs\":%.3f,\"read_into_ratio\":%.3f,"
                    "\"loom_part_read_gibs\":%.3f,\"part_read_ratio\":%.3f,"
                    "\"cpu_s\":{\"raw_write\":%.3f,\"loom_write\":%.3f,"
                    "\"raw_read\":%.3f,\"loom_read_into\":%.3f,"
                    "\"loom_part_read\":%.3f}",
                    r, size, parts, gibs, do_sync, drop, !no_verify, load[0],
                    gibs / wall[0], gibs / wall[1], ratio[0][r], gibs / wall[2],
                    gibs / wall[3], ratio[1][r], gibs / wall[4], ratio[2][r], cpu[0],
                    cpu[1], cpu[2], cpu[3], cpu[4]);
            if (single)
                printf (",\"single_file_write_gibs\":%.3f", gibs / wall[5]);
            printf ("}\n");
            fflush (stdout);
        }
    }
    if (rank == 0) {
        printf ("{\"bench\":\"datasets-io-summary\",\"np\":%d,\"parts\":%u,"
                "\"gib\":%.2f,\"sync\":%d,\"cold_read\":%d,\"verify\":%d,"
                "\"repeats\":%d,\"median_write_ratio\":%.3f,"
                "\"median_read_into_ratio\":%.3f,\"median_part_read_ratio\":%.3f,"
                "\"median_cpu_write_ratio\":%.3f,\"median_cpu_read_into_ratio\":%.3f,"
                "\"median_cpu_part_read_ratio\":%.3f",
                size, parts, gibs, do_sync, drop, !no_verify, repeat,
                median (ratio[0], repeat), median (ratio[1], repeat),
                median (ratio[2], repeat), median (ratio[3], repeat),
                median (ratio[4], repeat), median (ratio[5], repeat));
        if (single)
            printf (",\"median_single_file_vs_loom_write\":%.3f",
                    median (ratio[6], repeat));
        printf ("}\n");
    }
    for (int i = 0; i < 7; i++)
        free (ratio[i]);
    free (a);
    free (b);
    MPI_Barrier (MPI_COMM_WORLD);
    if (rank == 0)
        rm_rf (dir);
    MPI_Finalize ();
    return 0;
}
