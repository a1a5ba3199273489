/* SPDX-License-Identifier: MIT */
/* Unit tests of loom::datasets in one process (MPI_COMM_NULL): schemas, round trips
 * of every column type, partitioners, commit rules, resume, overwrite, memory
 * hand-off, verify and gc. Multi-rank round trips are in mpi_roundtrip.c.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/dataset.h>
#include <loom/hash.h>

#include "dsgen.h"

static char tmpdir[] = "/tmp/loom-ds-test.XXXXXX";

static char *dspath (const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf (buf[k], sizeof (buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

/* Flip bits 'mask' of byte 'at' of the first copy of the 8-byte 'value' in 'file' (a
 * column value in the middle of the data, where only the checksum can notice).
 */
static void flip_byte_of_value (const char *file, const void *value, int at, int mask)
{
    int fd = open (file, O_RDWR);
    assert_true (fd >= 0);
    struct stat st;
    assert_int_equal (fstat (fd, &st), 0);
    char *img = malloc ((size_t)st.st_size);
    assert_non_null (img);
    assert_int_equal (pread (fd, img, (size_t)st.st_size, 0), st.st_size);
    const char *hit = memmem (img, (size_t)st.st_size, value, 8);
    assert_non_null (hit);
    char c = (char)(hit[at] ^ mask);
    assert_int_equal (pwrite (fd, &c, 1, hit - img + at), 1);
    close (fd);
    free (img);
}

/* Write the dsgen dataset with 'nparts' partitions at 'path'. */
static void write_gen (const char *path, uint32_t nparts, int flags)
{
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse (DSGEN_SCHEMA, &err);
    assert_non_null (s);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = nparts;
    p.flags = flags;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w)
        fail_msg ("create: %s", err.text);
    for (uint32_t part = 0; part < nparts; part++) {
        struct dsgen g;
        dsgen_fill (&g, part);
        if (loom_ds_write_partition (w, part, g.n, g.cols, &err) < 0)
            fail_msg ("write: %s", err.text);
        dsgen_free (&g);
    }
    if (loom_ds_commit (w, &err) < 0)
        fail_msg ("commit: %s", err.text);
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
}

static void schema_parse_format (void **state)
{
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("word:bytes,count:u64,k:str10", &err);
    assert_non_null (s);
    assert_int_equal (loom_ds_schema_ncols (s), 3);
    assert_int_equal (loom_ds_schema_type (s, 2), LOOM_DS_FIXSTR);
    assert_int_equal (loom_ds_schema_width (s, 2), 10);
    assert_int_equal (loom_ds_schema_width (s, 1), 8);
    assert_int_equal (loom_ds_schema_find (s, "count"), 1);
    assert_int_equal (loom_ds_schema_find (s, "nope"), -1);
    char *text = loom_ds_schema_format (s);
    assert_string_equal (text, "word:bytes,count:u64,k:str10");
    free (text);
    loom_ds_schema_destroy (s);

    const char *bad[] = {"",       "a",          "a:u32", "a:u64,a:i32", "a b:u64",
                         "a:str0", "a:str70000", ":u64",  "a:u64,",      "a:str1x"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        errno = 0;
        assert_null (loom_ds_schema_parse (bad[i], &err));
        assert_int_equal (errno, EINVAL);
        assert_true (strlen (err.text) > 0);
    }
    s = loom_ds_schema_create ();
    assert_int_equal (loom_ds_schema_add (s, "x", LOOM_DS_UINT64, 3, &err), -1);
    assert_int_equal (loom_ds_schema_add (s, "x", 99, 0, &err), -1);
    assert_int_equal (loom_ds_schema_add (s, "x", LOOM_DS_FIXSTR, 0, &err), -1);
    assert_int_equal (loom_ds_schema_add (s, "x", LOOM_DS_FIXSTR, 4, &err), 0);
    loom_ds_schema_destroy (s);
    loom_ds_schema_destroy (NULL);
}

static void roundtrip_all_types (void **state)
{
    const char *path = dspath ("rt.h5");
    write_gen (path, 5, 0);
    loom_error_t err;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    if (!ds)
        fail_msg ("open: %s", err.text);
    assert_int_equal (loom_ds_nparts (ds), 5);
    uint64_t total = 0;
    for (uint32_t p = 0; p < 5; p++) {
        assert_int_equal (loom_ds_part_records (ds, p), dsgen_count (p));
        total += dsgen_count (p);
        loom_ds_part_t *pr = loom_ds_part_read (ds, p, &err);
        if (!pr)
            fail_msg ("read %u: %s", p, err.text);
        assert_int_equal (dsgen_check (pr, p), -1);
        loom_ds_part_destroy (pr);
    }
    assert_int_equal (loom_ds_records (ds), total);
    assert_null (loom_ds_part_read (ds, 5, &err));
    assert_int_equal (errno, EINVAL);
    uint32_t first, count;
    loom_ds_assign (ds, &first, &count);
    assert_int_equal (first, 0);
    assert_int_equal (count, 5);
    assert_string_equal (loom_ds_lineage_json (ds), "null");
    assert_null (loom_ds_trace_id (ds));
    loom_ds_close (ds);
    loom_ds_close (NULL);
}

static void batches_equal_one_write (void **state)
{
    /* A partition appended in batches is the same data, and checksum, as one write. */
    const char *path = dspath ("batches.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse (DSGEN_SCHEMA, &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = 2;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (w);
    struct dsgen g;
    dsgen_fill (&g, 1);
    loom_ds_part_writer_t *pw = loom_ds_part_begin (w, 1, &err);
    assert_non_null (pw);
    for (size_t at = 0; at < g.n; at += 13) {
        size_t k = g.n - at < 13 ? g.n - at : 13;
        struct loom_ds_colbuf c[6] = {
            {g.a + at, NULL},     {g.b + at, NULL},  {g.c + at, NULL}, {g.d + at, NULL},
            {g.e + 6 * at, NULL}, {g.f, g.off + at}, /* offsets slice: offsets[0] != 0
                                                      */
        };
        assert_int_equal (loom_ds_part_append (pw, k, c, &err), 0);
    }
    assert_int_equal (loom_ds_part_end (pw, &err), 0);
    assert_int_equal (loom_ds_write_partition (w, 0, g.n, g.cols, &err), 0);
    /* Same partition twice is refused. */
    assert_int_equal (loom_ds_write_partition (w, 0, g.n, g.cols, &err), -1);
    assert_int_equal (errno, EEXIST);
    dsgen_free (&g);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    assert_true (loom_ds_part_checksum (ds, 0) == loom_ds_part_checksum (ds, 1));
    loom_ds_part_t *pr = loom_ds_part_read (ds, 1, &err);
    assert_non_null (pr);
    assert_int_equal (dsgen_check (pr, 1), -1);
    loom_ds_part_destroy (pr);
    loom_ds_close (ds);
    loom_ds_schema_destroy (s);
}

static void missing_partition_fails_commit (void **state)
{
    const char *path = dspath ("missing.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = 3;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    uint64_t v[2] = {1, 2};
    struct loom_ds_colbuf c = {v, NULL};
    assert_int_equal (loom_ds_write_partition (w, 0, 2, &c, &err), 0);
    assert_int_equal (loom_ds_write_partition (w, 2, 2, &c, &err), 0);
    assert_int_equal (loom_ds_commit (w, &err), -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (err.text, "partition 1 was not written"));
    loom_ds_writer_destroy (w);
    assert_null (loom_ds_open (MPI_COMM_NULL, path, NULL, &err));
    assert_int_equal (errno, ENOENT);

    /* A second attempt with RESUME reuses partitions 0 and 2. */
    p.flags = LOOM_DS_RESUME;
    w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (w);
    assert_int_equal (loom_ds_writer_committed (w, 0), 1);
    assert_int_equal (loom_ds_writer_committed (w, 1), 0);
    assert_int_equal (loom_ds_writer_committed (w, 2), 1);
    assert_int_equal (loom_ds_write_partition (w, 0, 2, &c, &err), -1);
    assert_int_equal (errno, EEXIST);
    assert_int_equal (loom_ds_write_partition (w, 1, 1, &c, &err), 0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    assert_int_equal (loom_ds_records (ds), 5);
    loom_ds_close (ds);
    loom_ds_schema_destroy (s);
}

static void overwrite_and_exists (void **state)
{
    const char *path = dspath ("ow.h5");
    write_gen (path, 2, 0);
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    assert_null (loom_ds_create (MPI_COMM_NULL, path, s, &p, &err));
    assert_int_equal (errno, EEXIST);
    p.flags = LOOM_DS_OVERWRITE;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (w);
    uint64_t v = 9;
    struct loom_ds_colbuf c = {&v, NULL};
    assert_int_equal (loom_ds_write_partition (w, 0, 1, &c, &err), 0);
    /* Until commit, readers see the previous version whole. */
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    assert_int_equal (loom_ds_nparts (ds), 2);
    loom_ds_part_t *pr = loom_ds_part_read (ds, 0, &err);
    assert_non_null (pr);
    assert_int_equal (dsgen_check (pr, 0), -1);
    loom_ds_part_destroy (pr);
    loom_ds_close (ds);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_int_equal (loom_ds_nparts (ds), 1);
    pr = loom_ds_part_read (ds, 0, &err);
    assert_non_null (pr);
    assert_int_equal (*(const uint64_t *)loom_ds_part_column (pr, 0), 9);
    loom_ds_part_destroy (pr);
    loom_ds_close (ds);
    /* The old version's files are gone. */
    struct stat st;
    char old[300];
    snprintf (old, sizeof (old), "%s/part-00000.g1.h5", path);
    assert_int_equal (stat (old, &st), -1);
    loom_ds_schema_destroy (s);
}

static void schema_mismatch_on_open (void **state)
{
    const char *path = dspath ("rt.h5");
    loom_error_t err;
    loom_ds_schema_t *want =
        loom_ds_schema_parse ("a:i32,b:i64,c:u64,d:f64,e:str7,f:bytes", &err);
    struct loom_ds_open_params op = LOOM_DS_OPEN_PARAMS_INIT;
    op.expect_schema = want;
    assert_null (loom_ds_open (MPI_COMM_NULL, path, &op, &err));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (err.text, "schema mismatch at column 4"));
    loom_ds_schema_destroy (want);
}

static void hash_partitioner_matches_shared_hash (void **state)
{
    const char *path = dspath ("hash.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("src:u64,dst:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = 8;
    p.partitioner = LOOM_DS_PART_HASH;
    p.key = "src";
    p.seed = 0xfeedULL;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (w);
    uint64_t key = 12345;
    int64_t part = loom_ds_writer_partition_of (w, &key, 0);
    assert_int_equal (part, loom_hash_partition (&key, 8, 0xfeedULL, 8));
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal (
            loom_ds_write_partition (w, i, 0, (struct loom_ds_colbuf[2]){{0}}, &err),
            0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_int_equal (loom_ds_partitioner (ds), LOOM_DS_PART_HASH);
    assert_int_equal (loom_ds_seed (ds), 0xfeedULL);
    assert_int_equal (loom_ds_key_column (ds), 0);
    assert_int_equal (loom_ds_partition_of (ds, &key, 0), part);
    assert_int_equal (loom_ds_aligned (ds, 4, 0xfeedULL), 1);
    assert_int_equal (loom_ds_aligned (ds, 3, 0xfeedULL), 0);
    assert_int_equal (loom_ds_aligned (ds, 4, 1), 0);
    /* The block a rank gets when size divides nparts is exactly its hash share. */
    for (uint64_t k = 0; k < 1000; k++) {
        uint32_t p8 = (uint32_t)loom_ds_partition_of (ds, &k, 0);
        assert_int_equal (p8 / 2, loom_hash_partition (&k, 8, 0xfeedULL, 4));
    }
    loom_ds_close (ds);
    loom_ds_schema_destroy (s);
}

static void range_partitioner (void **state)
{
    const char *path = dspath ("range.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("k:str3,v:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = 3;
    p.partitioner = LOOM_DS_PART_RANGE;
    p.key = "k";
    p.splitters.data = "ddd"
                       "ppp";
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w)
        fail_msg ("%s", err.text);
    assert_int_equal (loom_ds_writer_partition_of (w, "aaa", 0), 0);
    assert_int_equal (loom_ds_writer_partition_of (w, "ddd", 0), 1);
    assert_int_equal (loom_ds_writer_partition_of (w, "pop", 0), 1);
    assert_int_equal (loom_ds_writer_partition_of (w, "zzz", 0), 2);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal (
            loom_ds_write_partition (w, i, 0, (struct loom_ds_colbuf[2]){{0}}, &err),
            0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    assert_int_equal (loom_ds_partition_of (ds, "pop", 0), 1);
    assert_int_equal (loom_ds_partition_of (ds, "zzz", 0), 2);
    loom_ds_close (ds);
    /* Splitters out of order are refused. */
    p.splitters.data = "ppp"
                       "ddd";
    p.flags = LOOM_DS_OVERWRITE;
    assert_null (loom_ds_create (MPI_COMM_NULL, path, s, &p, &err));
    assert_int_equal (errno, EINVAL);
    loom_ds_schema_destroy (s);
}

static void lineage_and_trace_recorded (void **state)
{
    const char *in = dspath ("rt.h5"), *path = dspath ("lin.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64", &err);
    const char *argv[] = {"loom-test-producer", "--seed", "7", NULL};
    const char *inputs[] = {in};
    struct loom_ds_lineage l = LOOM_DS_LINEAGE_INIT;
    l.producer = "loom-test-producer";
    l.framework = "test";
    l.argv = argv;
    l.params_json = "{\"seed\": 7}";
    l.inputs = inputs;
    l.ninputs = 1;
    l.dep = LOOM_DS_DEP_NARROW;
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.lineage = &l;
    p.trace_id = "trace-abc";
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w)
        fail_msg ("%s", err.text);
    assert_int_equal (
        loom_ds_write_partition (w, 0, 0, (struct loom_ds_colbuf[1]){{0}}, &err), 0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    loom_ds_t *ids = loom_ds_open (MPI_COMM_NULL, in, NULL, &err);
    const char *lin = loom_ds_lineage_json (ds);
    assert_non_null (strstr (lin, "\"dependency\":\"narrow\""));
    assert_non_null (strstr (lin, "\"seed\":7"));
    assert_non_null (strstr (lin, "\"loom_version\""));
    char hex[32];
    snprintf (hex, sizeof (hex), "\"checksum\":\"%016llx\"",
              (unsigned long long)loom_ds_checksum (ids));
    assert_non_null (strstr (lin, hex));
    assert_string_equal (loom_ds_trace_id (ds), "trace-abc");
    loom_ds_close (ds);
    loom_ds_close (ids);
    /* Bad params JSON and a missing input are refused, naming the problem. */
    l.params_json = "{oops";
    p.flags = LOOM_DS_OVERWRITE;
    assert_null (loom_ds_create (MPI_COMM_NULL, path, s, &p, &err));
    assert_int_equal (errno, EINVAL);
    l.params_json = NULL;
    inputs[0] = dspath ("no-such.h5");
    assert_null (loom_ds_create (MPI_COMM_NULL, path, s, &p, &err));
    assert_int_equal (errno, ENOENT);
    loom_ds_schema_destroy (s);
}

static void memory_handoff (void **state)
{
    const char *path = dspath ("mem.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse (DSGEN_SCHEMA, &err);
    for (int persist = LOOM_DS_PERSIST_MEMORY; persist <= LOOM_DS_PERSIST_BOTH;
         persist++) {
        struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
        p.nparts = 3;
        p.persist = persist;
        p.flags = LOOM_DS_OVERWRITE;
        loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
        assert_non_null (w);
        for (uint32_t i = 0; i < 3; i++) {
            struct dsgen g;
            dsgen_fill (&g, i);
            assert_int_equal (loom_ds_write_partition (w, i, g.n, g.cols, &err), 0);
            dsgen_free (&g);
        }
        if (loom_ds_commit (w, &err) < 0)
            fail_msg ("commit: %s", err.text);
        loom_ds_writer_destroy (w);
        struct stat st;
        char mpath[300];
        snprintf (mpath, sizeof (mpath), "%s/manifest.json", path);
        assert_int_equal (stat (mpath, &st) == 0, persist == LOOM_DS_PERSIST_BOTH);
        loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
        assert_non_null (ds);
        struct dsgen g;
        dsgen_fill (&g, 1);
        char *into = calloc (1, g.n * 40 + g.off[g.n] + 8);
        uint64_t *into_off = calloc (g.n + 1, 8);
        struct loom_ds_readbuf bufs[6] = {
            {into, g.n * 4, NULL},
            {into + g.n * 4, g.n * 8, NULL},
            {into + g.n * 12, g.n * 8, NULL},
            {into + g.n * 20, g.n * 8, NULL},
            {into + g.n * 28, g.n * 6, NULL},
            {into + g.n * 34, g.off[g.n], into_off},
        };
        assert_int_equal (loom_ds_part_read_into (ds, 1, bufs, &err), 0);
        assert_memory_equal (into, g.a, g.n * 4);
        assert_memory_equal (into + g.n * 28, g.e, g.n * 6);
        assert_memory_equal (into_off, g.off, (g.n + 1) * 8);
        assert_memory_equal (into + g.n * 34, g.f, g.off[g.n]);
        free (into);
        free (into_off);
        dsgen_free (&g);
        loom_ds_part_t *pr = loom_ds_part_read (ds, 1, &err);
        assert_non_null (pr);
        loom_ds_close (ds); /* a partition outlives its dataset handle */
        assert_int_equal (loom_ds_release (path), 0);
        assert_int_equal (dsgen_check (pr, 1), -1);
        loom_ds_part_destroy (pr);
        assert_int_equal (loom_ds_release (path), -1);
        assert_int_equal (errno, ENOENT);
    }
    loom_ds_schema_destroy (s);
}

static void verify_finds_flipped_byte (void **state)
{
    const char *path = dspath ("flip.h5");
    write_gen (path, 3, 0);
    loom_error_t err;
    uint32_t *bad;
    size_t nbad;
    assert_int_equal (loom_ds_verify (path, -1, &bad, &nbad, &err), 0);
    free (bad);
    /* Flip a byte of column data near the end of partition 1's file. */
    char file[300];
    snprintf (file, sizeof (file), "%s/part-00001.g1.h5", path);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    uint64_t size = loom_ds_part_size (ds, 1);
    loom_ds_close (ds);
    FILE *f = fopen (file, "r+b");
    assert_non_null (f);
    /* Data chunks are written before the attributes at the end: look for a-z text
     * of column f and flip one of those bytes.
     */
    char *buf = malloc (size);
    assert_int_equal (fread (buf, 1, size, f), size);
    long at = -1;
    for (uint64_t i = 0; i + 8 < size; i++)
        if (memcmp (buf + i, "bcdefghi", 8) == 0) {
            at = (long)i;
            break;
        }
    assert_true (at > 0);
    fseek (f, at, SEEK_SET);
    fputc (buf[at] ^ 0x20, f);
    fclose (f);
    free (buf);
    assert_int_equal (loom_ds_verify (path, -1, &bad, &nbad, &err), 1);
    assert_int_equal (nbad, 1);
    assert_int_equal (bad[0], 1);
    assert_non_null (strstr (err.text, "partition 1"));
    assert_non_null (strstr (err.text, "checksum mismatch"));
    free (bad);
}

/* The checksum as docs/datasets.md defines it, for a "x:u64,s:bytes" partition:
 * xxh64 of each stored array, then xxh64 of those digests as little-endian words.
 */
static uint64_t
doc_checksum (const uint64_t *x, const uint64_t *off, const char *bytes, size_t n)
{
    uint64_t d[3] = {loom_hash64 (x, n * 8, 0), loom_hash64 (off, (n + 1) * 8, 0),
                     loom_hash64 (bytes, off[n], 0)};
    uint8_t words[24];
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 8; b++)
            words[8 * i + b] = (uint8_t)(d[i] >> (8 * b));
    return loom_hash64 (words, sizeof (words), 0);
}

static void big_partition_and_read_into (void **state)
{
    /* Big enough that writes and reads go in several pieces (and chunks), with
     * batches that end in the middle of a chunk.
     */
    const size_t n = 140000;
    uint64_t *x = malloc (n * 8), *off = malloc ((n + 1) * 8);
    char *bytes = malloc (n * 8);
    assert_true (x && off && bytes);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = i * 0x9E3779B97F4A7C15ull;
        for (size_t k = 0; k < i % 9; k++)
            bytes[off[i] + k] = (char)('a' + (i + k) % 26);
        off[i + 1] = off[i] + i % 9;
    }
    const char *one = dspath ("big1.h5"), *batched = dspath ("big2.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64,s:bytes", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.flags = LOOM_DS_NOSYNC; /* durability is tested elsewhere; keep this fast */
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, one, s, &p, &err);
    assert_non_null (w);
    struct loom_ds_colbuf cols[2] = {{x, NULL}, {bytes, off}};
    assert_int_equal (loom_ds_write_partition (w, 0, n, cols, &err), 0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);
    w = loom_ds_create (MPI_COMM_NULL, batched, s, &p, &err);
    loom_ds_part_writer_t *pw = loom_ds_part_begin (w, 0, &err);
    assert_non_null (pw);
    size_t cut[4] = {0, 1, 70001, n};
    for (int b = 0; b < 3; b++) {
        struct loom_ds_colbuf c[2] = {{x + cut[b], NULL}, {bytes, off + cut[b]}};
        assert_int_equal (loom_ds_part_append (pw, cut[b + 1] - cut[b], c, &err), 0);
    }
    assert_int_equal (loom_ds_part_end (pw, &err), 0);
    assert_int_equal (loom_ds_commit (w, &err), 0);
    loom_ds_writer_destroy (w);

    uint64_t *x2 = malloc (n * 8), *off2 = malloc ((n + 1) * 8);
    char *bytes2 = malloc (off[n]);
    const char *paths[2] = {one, batched};
    for (int k = 0; k < 2; k++) {
        loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, paths[k], NULL, &err);
        assert_non_null (ds);
        assert_true (loom_ds_part_checksum (ds, 0) == doc_checksum (x, off, bytes, n));
        memset (x2, 0, n * 8);
        memset (bytes2, 0, off[n]);
        struct loom_ds_readbuf bufs[2] = {{x2, n * 8, NULL}, {bytes2, off[n], off2}};
        if (loom_ds_part_read_into (ds, 0, bufs, &err) < 0)
            fail_msg ("read_into: %s", err.text);
        assert_memory_equal (x2, x, n * 8);
        assert_memory_equal (off2, off, (n + 1) * 8);
        assert_memory_equal (bytes2, bytes, off[n]);
        loom_ds_part_t *pr = loom_ds_part_read (ds, 0, &err);
        assert_non_null (pr);
        assert_memory_equal (loom_ds_part_column (pr, 0), x, n * 8);
        assert_memory_equal (loom_ds_part_column (pr, 1), bytes, off[n]);
        loom_ds_part_destroy (pr);
        /* Buffers too small: refused, naming the column. */
        bufs[1].cap = off[n] - 1;
        assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
        assert_int_equal (errno, ENOSPC);
        assert_non_null (strstr (err.text, "'s.bytes'"));
        bufs[1].cap = off[n];
        bufs[0].cap = n * 8 - 1;
        assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
        assert_int_equal (errno, ENOSPC);
        assert_non_null (strstr (err.text, "column 'x'"));
        bufs[0].cap = n * 8;
        bufs[1].offsets = NULL;
        assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
        assert_int_equal (errno, EINVAL);
        loom_ds_close (ds);
    }

    /* A flipped byte in the middle of the data is caught by read_into too, and only
     * because of the checksum (LOOM_DS_NO_VERIFY reads it).
     */
    char file[300];
    snprintf (file, sizeof (file), "%s/part-00000.g1.h5", one);
    flip_byte_of_value (file, &x[100000], 3, 0x01);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, one, NULL, &err);
    struct loom_ds_readbuf bufs[2] = {{x2, n * 8, NULL}, {bytes2, off[n], off2}};
    assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
    assert_int_equal (errno, EPROTO);
    assert_non_null (
        strstr (err.text, "partition 0 (part-00000.g1.h5): checksum mismatch"));
    loom_ds_close (ds);
    struct loom_ds_open_params op = LOOM_DS_OPEN_PARAMS_INIT;
    op.flags = LOOM_DS_NO_VERIFY;
    ds = loom_ds_open (MPI_COMM_NULL, one, &op, &err);
    assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), 0);
    assert_true (x2[100000] != x[100000]);
    loom_ds_close (ds);

    loom_ds_schema_destroy (s);
    free (x);
    free (off);
    free (bytes);
    free (x2);
    free (off2);
    free (bytes2);
}

/* FilePmdMapped kB of this process: whether a partition read is mapped in place. */
static long pmd_mapped_kb (void)
{
    FILE *f = fopen ("/proc/self/smaps", "r");
    char line[256];
    long kb = 0, v;
    while (f && fgets (line, sizeof (line), f))
        if (sscanf (line, "FilePmdMapped: %ld kB", &v) == 1)
            kb += v;
    if (f)
        fclose (f);
    return kb;
}

/* A partition big enough for rawio.c's direct path: columns written with pwrite at
 * their offsets, read back through a huge-page mapping where the kernel gives one
 * (in place with loom_ds_part_read, copied by the hashing loop with read_into) or
 * with pread. Values, the documented checksum, and a flipped byte must all come out
 * right either way; an i32 column smaller than the alignment threshold may sit at
 * any offset.
 */
static void big_partition_direct_io (void **state)
{
    const size_t n = 1u << 20; /* whole 2 MiB blocks: no small-page tails */
    uint64_t *x = malloc (n * 8), *y = malloc (n * 8);
    int32_t *w = malloc (n * 4);
    assert_true (x && y && w);
    for (size_t i = 0; i < n; i++) {
        x[i] = i * 0x9E3779B97F4A7C15ull;
        y[i] = ~i;
        w[i] = (int32_t)(i * 7) - 1000;
    }
    const char *path = dspath ("direct.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64,w:i32,y:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.flags = LOOM_DS_NOSYNC;
    loom_ds_writer_t *wr = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (wr);
    struct loom_ds_colbuf cols[3] = {{x, NULL}, {w, NULL}, {y, NULL}};
    assert_int_equal (loom_ds_write_partition (wr, 0, n, cols, &err), 0);
    assert_int_equal (loom_ds_commit (wr, &err), 0);
    loom_ds_writer_destroy (wr);

    uint64_t d[3] = {loom_hash64 (x, n * 8, 0), loom_hash64 (w, n * 4, 0),
                     loom_hash64 (y, n * 8, 0)};
    uint8_t words[24];
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 8; b++)
            words[8 * i + b] = (uint8_t)(d[i] >> (8 * b));
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    assert_true (loom_ds_part_checksum (ds, 0) == loom_hash64 (words, 24, 0));
    long before = pmd_mapped_kb ();
    loom_ds_part_t *pr = loom_ds_part_read (ds, 0, &err);
    if (!pr)
        fail_msg ("part_read: %s", err.text);
    print_message ("part_read mapped %ld kB of huge pages in place\n",
                   pmd_mapped_kb () - before);
    assert_memory_equal (loom_ds_part_column (pr, 0), x, n * 8);
    assert_memory_equal (loom_ds_part_column (pr, 1), w, n * 4);
    assert_memory_equal (loom_ds_part_column (pr, 2), y, n * 8);
    loom_ds_part_destroy (pr);
    uint64_t *x2 = calloc (n, 8), *y2 = calloc (n, 8);
    int32_t *w2 = calloc (n, 4);
    struct loom_ds_readbuf bufs[3] = {
        {x2, n * 8, NULL}, {w2, n * 4, NULL}, {y2, n * 8, NULL}};
    if (loom_ds_part_read_into (ds, 0, bufs, &err) < 0)
        fail_msg ("read_into: %s", err.text);
    assert_memory_equal (x2, x, n * 8);
    assert_memory_equal (w2, w, n * 4);
    assert_memory_equal (y2, y, n * 8);
    loom_ds_close (ds);

    /* The file is ordinary HDF5 holding the values at the offsets HDF5 recorded:
     * flip one byte of x in the middle, where only the checksum can notice it.
     */
    char file[300];
    snprintf (file, sizeof (file), "%s/part-00000.g1.h5", path);
    flip_byte_of_value (file, &x[n / 2], 2, 0x10);
    ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_null (loom_ds_part_read (ds, 0, &err));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (err.text, "checksum mismatch"));
    assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
    assert_non_null (strstr (err.text, "checksum mismatch"));
    loom_ds_close (ds);
    struct loom_ds_open_params op = LOOM_DS_OPEN_PARAMS_INIT;
    op.flags = LOOM_DS_NO_VERIFY;
    ds = loom_ds_open (MPI_COMM_NULL, path, &op, &err);
    pr = loom_ds_part_read (ds, 0, &err);
    assert_non_null (pr);
    const uint64_t *xr = loom_ds_part_column (pr, 0);
    assert_true (xr[n / 2] != x[n / 2] && xr[n / 2 - 1] == x[n / 2 - 1]);
    loom_ds_part_destroy (pr);
    loom_ds_close (ds);
    loom_ds_schema_destroy (s);
    free (x);
    free (y);
    free (w);
    free (x2);
    free (y2);
    free (w2);
}

/* Drop a file's pages from the page cache (they are clean once synced), so the next
 * read comes from the disk. Returns whether the kernel says none are left
 * (cachestat(2), Linux 6.5), or true if it cannot tell.
 */
static bool evict (const char *file)
{
    int fd = open (file, O_RDONLY);
    assert_true (fd >= 0);
    assert_int_equal (fdatasync (fd), 0);
    assert_int_equal (posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    struct {
        uint64_t off, len;
    } range = {0, 0}; /* 0: to the end of the file */
    uint64_t cs[5];   /* nr_cache first */
    bool gone = syscall (451 /* cachestat */, fd, &range, cs, 0) < 0 || cs[0] == 0;
    close (fd);
    return gone;
}

/* The same partition read cold (not in the page cache): rawio.c then populates the
 * mapping piece by piece as it hashes. Values and checksums must come out as from
 * the page cache, and a flipped byte must still be caught.
 */
static void big_partition_cold_read (void **state)
{
    const size_t n = 3u << 20; /* 24 MiB columns: several 2 MiB pieces each */
    uint64_t *x = malloc (n * 8), *y = malloc (n * 8), *x2 = calloc (n, 8),
             *y2 = calloc (n, 8);
    assert_true (x && y && x2 && y2);
    for (size_t i = 0; i < n; i++) {
        x[i] = i * 0x9E3779B97F4A7C15ull;
        y[i] = ~i ^ (i << 40);
    }
    const char *path = dspath ("cold.h5");
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64,y:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    loom_ds_writer_t *wr = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    assert_non_null (wr);
    struct loom_ds_colbuf cols[2] = {{x, NULL}, {y, NULL}};
    assert_int_equal (loom_ds_write_partition (wr, 0, n, cols, &err), 0);
    assert_int_equal (loom_ds_commit (wr, &err), 0);
    loom_ds_writer_destroy (wr);
    char file[300];
    snprintf (file, sizeof (file), "%s/part-00000.g1.h5", path);

    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    bool gone = evict (file);
    long before = pmd_mapped_kb ();
    loom_ds_part_t *pr = loom_ds_part_read (ds, 0, &err);
    if (!pr)
        fail_msg ("cold part_read: %s", err.text);
    print_message ("cold part_read (evicted: %s) mapped %ld kB of huge pages\n",
                   gone ? "yes" : "no", pmd_mapped_kb () - before);
    assert_memory_equal (loom_ds_part_column (pr, 0), x, n * 8);
    assert_memory_equal (loom_ds_part_column (pr, 1), y, n * 8);
    loom_ds_part_destroy (pr);
    evict (file);
    struct loom_ds_readbuf bufs[2] = {{x2, n * 8, NULL}, {y2, n * 8, NULL}};
    if (loom_ds_part_read_into (ds, 0, bufs, &err) < 0)
        fail_msg ("cold read_into: %s", err.text);
    assert_memory_equal (x2, x, n * 8);
    assert_memory_equal (y2, y, n * 8);
    loom_ds_close (ds);

    /* Flip one byte near the end of y (the last piece hashed), then read cold. */
    flip_byte_of_value (file, &y[n - 3], 5, 0x01);
    ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    assert_non_null (ds);
    evict (file);
    assert_null (loom_ds_part_read (ds, 0, &err));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (err.text, "checksum mismatch"));
    evict (file);
    assert_int_equal (loom_ds_part_read_into (ds, 0, bufs, &err), -1);
    assert_non_null (strstr (err.text, "checksum mismatch"));
    loom_ds_close (ds);
    loom_ds_schema_destroy (s);
    free (x);
    free (y);
    free (x2);
    free (y2);
}

static void gc_removes_orphans (void **state)
{
    const char *path = dspath ("gc.h5");
    write_gen (path, 2, 0);
    char junk[300], stale[300];
    snprintf (junk, sizeof (junk), "%s/.tmp.part-00000.g2.h5.999", path);
    snprintf (stale, sizeof (stale), "%s/part-00001.g2.h5", path);
    fclose (fopen (junk, "w"));
    fclose (fopen (stale, "w"));
    loom_error_t err;
    char **removed;
    assert_int_equal (loom_ds_gc (path, 3600, &removed, &err), 0); /* too young */
    free (removed);
    assert_int_equal (loom_ds_gc (path, 0, &removed, &err), 2);
    assert_non_null (removed[0]);
    assert_non_null (removed[1]);
    assert_null (removed[2]);
    for (int i = 0; removed[i]; i++)
        free (removed[i]);
    free (removed);
    uint32_t *bad;
    size_t nbad;
    assert_int_equal (loom_ds_verify (path, -1, &bad, &nbad, &err), 0);
    free (bad);
}

static void bad_params (void **state)
{
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64", &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    assert_null (loom_ds_create (MPI_COMM_NULL, NULL, s, &p, &err));
    assert_int_equal (errno, EINVAL);
    p.nparts = 0;
    assert_null (loom_ds_create (MPI_COMM_NULL, dspath ("bad.h5"), s, &p, &err));
    assert_int_equal (errno, EINVAL);
    p.nparts = 2;
    p.flags = 1 << 9;
    assert_null (loom_ds_create (MPI_COMM_NULL, dspath ("bad.h5"), s, &p, &err));
    assert_int_equal (errno, EINVAL);
    p.flags = 0;
    p.partitioner = LOOM_DS_PART_HASH;
    p.key = "nope";
    assert_null (loom_ds_create (MPI_COMM_NULL, dspath ("bad.h5"), s, &p, &err));
    assert_int_equal (errno, EINVAL);
    assert_non_null (strstr (err.text, "nope"));
    p.partitioner = LOOM_DS_PART_RANGE;
    p.key = "x";
    assert_null (loom_ds_create (MPI_COMM_NULL, dspath ("bad.h5"), s, &p, &err));
    assert_int_equal (errno, EINVAL);
    p.partitioner = LOOM_DS_PART_NONE;
    loom_ds_writer_t *w =
        loom_ds_create (MPI_COMM_NULL, dspath ("bad.h5"), s, &p, &err);
    assert_non_null (w);
    assert_null (loom_ds_part_begin (w, 2, &err));
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_ds_writer_partition_of (w, "k", 1), -1);
    loom_ds_part_writer_t *pw = loom_ds_part_begin (w, 0, &err);
    assert_int_equal (
        loom_ds_part_append (pw, 1, (struct loom_ds_colbuf[1]){{NULL, NULL}}, &err),
        -1);
    assert_int_equal (errno, EINVAL);
    loom_ds_part_abort (pw);
    loom_ds_part_abort (NULL);
    loom_ds_writer_destroy (w);
    loom_ds_writer_destroy (NULL);
    assert_null (loom_ds_open (MPI_COMM_NULL, NULL, NULL, &err));
    assert_int_equal (errno, EINVAL);
    assert_null (loom_ds_open (MPI_COMM_NULL, dspath ("never.h5"), NULL, &err));
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (err.text, "never.h5"));
    loom_ds_schema_destroy (s);
}

static int teardown_all (void **state)
{
    char cmd[300];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", tmpdir);
    return system (cmd) == 0 ? 0 : -1;
}

int main (void)
{
    if (!mkdtemp (tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (schema_parse_format),
        cmocka_unit_test (roundtrip_all_types),
        cmocka_unit_test (batches_equal_one_write),
        cmocka_unit_test (missing_partition_fails_commit),
        cmocka_unit_test (overwrite_and_exists),
        cmocka_unit_test (schema_mismatch_on_open),
        cmocka_unit_test (hash_partitioner_matches_shared_hash),
        cmocka_unit_test (range_partitioner),
        cmocka_unit_test (lineage_and_trace_recorded),
        cmocka_unit_test (memory_handoff),
        cmocka_unit_test (verify_finds_flipped_byte),
        cmocka_unit_test (big_partition_and_read_into),
        cmocka_unit_test (big_partition_direct_io),
        cmocka_unit_test (big_partition_cold_read),
        cmocka_unit_test (gc_removes_orphans),
        cmocka_unit_test (bad_params),
    };
    return cmocka_run_group_tests (tests, NULL, teardown_all);
}
