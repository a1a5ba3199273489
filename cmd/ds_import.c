/* SPDX-License-Identifier: MIT */
/* `loom ds import --csv`: bring your own data. The CSV is parsed completely and
 * checked against the schema before anything is written, so a bad line costs
 * nothing but its error message.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <loom/hash.h>

#include "csv.h"
#include "ds.h"

enum {
    OPT_CSV = 256,
    OPT_SCHEMA,
    OPT_KEY,
    OPT_SEED,
    OPT_HEADER,
    OPT_OVERWRITE,
    OPT_REPAIR
};

static const struct cmd_option options[] = {
    {"csv", 0, OPT_CSV, NULL, "Read CSV (RFC 4180) (required)"},
    {"schema", 1, OPT_SCHEMA, "SCHEMA",
     "Columns of the CSV, e.g. \"id:u64,name:bytes,score:f64\" (required)"},
    {"partitions", 1, 'P', "N", "Number of partitions (default 1)"},
    {"key", 1, OPT_KEY, "COLUMN",
     "Hash-partition on COLUMN (default: contiguous rows)"},
    {"seed", 1, OPT_SEED, "SEED", "Hash seed for --key (default 0)"},
    {"header", 0, OPT_HEADER, NULL,
     "The first line names the columns: check and skip it"},
    {"overwrite", 0, OPT_OVERWRITE, NULL, "Replace an existing dataset"},
    {"repair-partitions", 1, OPT_REPAIR, "LIST",
     "Rewrite only these partitions of the dataset (used by 'loom ds recompute')"},
    {NULL, 0, 0, NULL, NULL},
};

/* The whole CSV as column arrays. */
struct table {
    const loom_ds_schema_t *s;
    size_t n;
    void *data[64];
    size_t nbytes[64], bcap[64], ocap[64];
    uint64_t *off[64];
};

static int grow (void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *q = realloc (*p, c);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void table_free (struct table *t)
{
    for (size_t c = 0; c < 64; c++) {
        free (t->data[c]);
        free (t->off[c]);
    }
}

/* Convert field 'f' into column 'c'; returns NULL or a reason. */
static const char *put_field (struct table *t, size_t c, const struct csv_field *f)
{
    const loom_ds_schema_t *s = t->s;
    loom_ds_type_t type = loom_ds_schema_type (s, c);
    size_t w = loom_ds_schema_width (s, c);
    char num[128];
    if (type != LOOM_DS_FIXSTR && type != LOOM_DS_BYTES) {
        if (f->len == 0 || f->len >= sizeof (num))
            return f->len ? "is too long for a number" : "is empty";
        memcpy (num, f->p, f->len);
        num[f->len] = '\0';
    }
    size_t need = type == LOOM_DS_BYTES ? 0 : (t->n + 1) * w;
    if (need && grow (&t->data[c], &t->bcap[c], need) < 0)
        return "out of memory";
    char *end;
    errno = 0;
    switch (type) {
    case LOOM_DS_INT32: {
        long long v = strtoll (num, &end, 10);
        if (*end || errno || v < INT32_MIN || v > INT32_MAX)
            return "is not an i32";
        ((int32_t *)t->data[c])[t->n] = (int32_t)v;
        break;
    }
    case LOOM_DS_INT64: {
        long long v = strtoll (num, &end, 10);
        if (*end || errno)
            return "is not an i64";
        ((int64_t *)t->data[c])[t->n] = v;
        break;
    }
    case LOOM_DS_UINT64: {
        unsigned long long v = strtoull (num, &end, 10);
        if (*end || errno || num[0] == '-' || num[0] == ' ')
            return "is not a u64";
        ((uint64_t *)t->data[c])[t->n] = v;
        break;
    }
    case LOOM_DS_FLOAT64: {
        double v = strtod (num, &end);
        if (*end || (errno && fabs (v) > 1.0) || num[0] == ' ')
            return "is not an f64";
        ((double *)t->data[c])[t->n] = v;
        break;
    }
    case LOOM_DS_FIXSTR: {
        if (f->len > w)
            return "is longer than the column's width";
        char *dst = (char *)t->data[c] + t->n * w;
        memset (dst, 0, w);
        memcpy (dst, f->p, f->len);
        break;
    }
    case LOOM_DS_BYTES: {
        if (grow ((void **)&t->off[c], &t->ocap[c], (t->n + 2) * sizeof (uint64_t)) < 0
            || grow (&t->data[c], &t->bcap[c], t->nbytes[c] + f->len + 1) < 0)
            return "out of memory";
        if (t->n == 0)
            t->off[c][0] = 0;
        memcpy ((char *)t->data[c] + t->nbytes[c], f->p, f->len);
        t->nbytes[c] += f->len;
        t->off[c][t->n + 1] = t->nbytes[c];
        break;
    }
    }
    return NULL;
}

static int
read_table (const struct cmd *cmd, const char *file, int header, struct table *t)
{
    FILE *f = fopen (file, "rb");
    if (!f)
        return cmd_error (cmd, "%s: %s", file, strerror (errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (grow ((void **)&buf, &cap, len + 65536) < 0) {
            fclose (f);
            free (buf);
            return cmd_error (cmd, "%s: out of memory", file);
        }
        size_t n = fread (buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int rerr = ferror (f);
    fclose (f);
    if (rerr) {
        free (buf);
        return cmd_error (cmd, "%s: read error", file);
    }
    struct csv_reader r;
    csv_init (&r, buf, len);
    size_t ncols = loom_ds_schema_ncols (t->s);
    int rc = 0, first = 1;
    for (;;) {
        struct csv_field *fields;
        const char *why = NULL;
        int nf = csv_next (&r, &fields, &why);
        if (nf == 0)
            break;
        if (nf < 0) {
            rc = cmd_error (cmd, "%s:%zu: %s", file, r.physical, why);
            break;
        }
        if ((size_t)nf != ncols) {
            rc = cmd_error (cmd, "%s:%zu: %d fields, the schema has %zu columns", file,
                            r.line, nf, ncols);
            break;
        }
        if (first && header) {
            first = 0;
            for (size_t c = 0; c < ncols; c++) {
                const char *name = loom_ds_schema_name (t->s, c);
                if (fields[c].len != strlen (name)
                    || memcmp (fields[c].p, name, fields[c].len) != 0) {
                    rc = cmd_error (cmd,
                                    "%s:%zu: header column %zu is '%.*s', the schema "
                                    "says '%s'",
                                    file, r.line, c + 1,
                                    (int)(fields[c].len > 60 ? 60 : fields[c].len),
                                    fields[c].p, name);
                    goto out;
                }
            }
            continue;
        }
        first = 0;
        for (size_t c = 0; c < ncols; c++) {
            const char *why2 = put_field (t, c, &fields[c]);
            if (why2) {
                /* The field may hold newlines (quoted): show it on one line. */
                char shown[41];
                size_t k = fields[c].len > 40 ? 40 : fields[c].len;
                for (size_t j = 0; j < k; j++)
                    shown[j] =
                        (unsigned char)fields[c].p[j] < 0x20 ? '?' : fields[c].p[j];
                shown[k] = '\0';
                rc = cmd_error (cmd, "%s:%zu: column '%s': '%s' %s", file, r.line,
                                loom_ds_schema_name (t->s, c), shown, why2);
                goto out;
            }
        }
        t->n++;
    }
out:
    csv_free (&r);
    free (buf);
    return rc;
}

/* Column buffers of records [lo, hi) of the table (no copy). */
static void slice (const struct table *t, size_t lo, struct loom_ds_colbuf *cols)
{
    for (size_t c = 0; c < loom_ds_schema_ncols (t->s); c++) {
        size_t w = loom_ds_schema_width (t->s, c);
        if (loom_ds_schema_type (t->s, c) == LOOM_DS_BYTES)
            cols[c] = (struct loom_ds_colbuf){t->data[c], t->off[c] + lo};
        else
            cols[c] = (struct loom_ds_colbuf){(char *)t->data[c] + lo * w, NULL};
    }
}

/* Gather the records of 'rows' (row numbers) into 'out', a table of the same schema. */
static int
gather (const struct table *t, const size_t *rows, size_t n, struct table *out)
{
    memset (out, 0, sizeof (*out));
    out->s = t->s;
    for (size_t c = 0; c < loom_ds_schema_ncols (t->s); c++) {
        size_t w = loom_ds_schema_width (t->s, c);
        if (loom_ds_schema_type (t->s, c) == LOOM_DS_BYTES) {
            size_t total = 0;
            for (size_t i = 0; i < n; i++)
                total += t->off[c][rows[i] + 1] - t->off[c][rows[i]];
            out->data[c] = malloc (total + 1);
            out->off[c] = malloc ((n + 1) * sizeof (uint64_t));
            if (!out->data[c] || !out->off[c])
                return -1;
            out->off[c][0] = 0;
            for (size_t i = 0; i < n; i++) {
                uint64_t a = t->off[c][rows[i]], b = t->off[c][rows[i] + 1];
                memcpy ((char *)out->data[c] + out->off[c][i], (char *)t->data[c] + a,
                        b - a);
                out->off[c][i + 1] = out->off[c][i] + (b - a);
            }
        } else {
            if (!(out->data[c] = malloc (n * w + 1)))
                return -1;
            for (size_t i = 0; i < n; i++)
                memcpy ((char *)out->data[c] + i * w, (char *)t->data[c] + rows[i] * w,
                        w);
        }
    }
    out->n = n;
    return 0;
}

static int import_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *arg, *schema_text = NULL, *key = NULL, *repair = NULL;
    long nparts = 1;
    unsigned long long seed = 0;
    int csv = 0, header = 0, overwrite = 0, c;
    char **orig = argv;
    int orig_argc = argc;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case OPT_CSV:
            csv = 1;
            break;
        case OPT_SCHEMA:
            schema_text = arg;
            break;
        case 'P':
            if ((nparts = cmd_parse_count (cmd, "--partitions", arg)) < 0)
                return 1;
            break;
        case OPT_KEY:
            key = arg;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            seed = strtoull (arg, &end, 0);
            if (errno || end == arg || *end || arg[0] == '-')
                return cmd_error (cmd, "--seed must be an unsigned integer, not '%s'",
                                  arg);
            break;
        }
        case OPT_HEADER:
            header = 1;
            break;
        case OPT_OVERWRITE:
            overwrite = 1;
            break;
        case OPT_REPAIR:
            repair = arg;
            break;
        default:
            return 1;
        }
    }
    if (!csv)
        return cmd_error (cmd, "give a format: --csv (the only one for now)");
    if (!schema_text)
        return cmd_error (
            cmd, "give the columns with --schema (e.g. \"id:u64,name:bytes\")");
    if (optind != argc - 2)
        return cmd_error (
            cmd, "give a CSV file and a dataset (see 'loom ds import --help')");
    const char *file = argv[optind], *path = argv[optind + 1];
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse (schema_text, &err);
    if (!s)
        return cmd_error (cmd, "--schema: %s", err.text);
    if (key && loom_ds_schema_find (s, key) < 0) {
        loom_ds_schema_destroy (s);
        return cmd_error (cmd, "--key: '%s' is not a column of the schema", key);
    }
    struct table t = {.s = s};
    if (read_table (cmd, file, header, &t) != 0) {
        table_free (&t);
        loom_ds_schema_destroy (s);
        return 1;
    }

    /* Lineage: rerunning this very command (with --overwrite) rebuilds the dataset;
     * partitions depend only on the CSV, so one can be rebuilt alone (narrow).
     */
    const char **rargv = calloc ((size_t)orig_argc + 4, sizeof (char *));
    char *absfile = realpath (file, NULL);
    int k = 0, has_ow = 0;
    rargv[k++] = "loom";
    rargv[k++] = "ds";
    for (int i = 0; i < orig_argc; i++) {
        if (i == 0) {
            rargv[k++] = "import";
            continue;
        }
        if (strcmp (orig[i], "--repair-partitions") == 0) {
            i++;
            continue;
        }
        if (strncmp (orig[i], "--repair-partitions=", 20) == 0)
            continue;
        if (strcmp (orig[i], "--overwrite") == 0)
            has_ow = 1;
        rargv[k++] = orig[i] == file && absfile ? absfile : orig[i];
    }
    if (!has_ow) {
        /* Options go before the operands. */
        memmove (&rargv[k - 1], &rargv[k - 2], 2 * sizeof (char *));
        rargv[k - 2] = "--overwrite";
        k++;
    }
    rargv[k] = NULL;
    json_t *params =
        json_pack ("{s:s, s:s, s:I, s:s?, s:I}", "csv", absfile ? absfile : file,
                   "schema", schema_text, "partitions", (json_int_t)nparts, "key", key,
                   "seed", (json_int_t)seed);
    char *params_text = json_dumps (params, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (params);
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom ds import";
    lin.argv = rargv;
    lin.params_json = params_text;
    lin.dep = LOOM_DS_DEP_NARROW;

    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = (uint32_t)nparts;
    p.lineage = &lin;
    p.flags = overwrite ? LOOM_DS_OVERWRITE : 0;
    p.repair_partitions = repair;
    if (key) {
        p.partitioner = LOOM_DS_PART_HASH;
        p.key = key;
        p.seed = seed;
    }
    int rc = 0;
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w) {
        rc = cmd_error (cmd, "%s", err.text);
        goto done;
    }
    size_t *rows = NULL, *counts = NULL;
    uint32_t *part_of = NULL;
    if (key) {
        int kc = loom_ds_schema_find (s, key);
        part_of = malloc ((t.n + 1) * sizeof (*part_of));
        counts = calloc ((size_t)nparts + 1, sizeof (*counts));
        rows = malloc ((t.n + 1) * sizeof (*rows));
        if (!part_of || !counts || !rows) {
            rc = cmd_error (cmd, "out of memory");
            goto done_w;
        }
        size_t wk = loom_ds_schema_width (s, (size_t)kc);
        for (size_t i = 0; i < t.n; i++) {
            const void *kp;
            size_t klen = wk;
            if (loom_ds_schema_type (s, (size_t)kc) == LOOM_DS_BYTES) {
                kp = (char *)t.data[kc] + t.off[kc][i];
                klen = t.off[kc][i + 1] - t.off[kc][i];
            } else {
                kp = (char *)t.data[kc] + i * wk;
            }
            part_of[i] = (uint32_t)loom_ds_writer_partition_of (w, kp, klen);
            counts[part_of[i] + 1]++;
        }
        for (long q = 0; q < nparts; q++)
            counts[q + 1] += counts[q];
        size_t *fill = calloc ((size_t)nparts, sizeof (*fill));
        if (!fill) {
            rc = cmd_error (cmd, "out of memory");
            goto done_w;
        }
        for (size_t i = 0; i < t.n; i++)
            rows[counts[part_of[i]] + fill[part_of[i]]++] = i;
        free (fill);
    }
    for (uint32_t q = 0; q < (uint32_t)nparts; q++) {
        if (loom_ds_writer_committed (w, q))
            continue;
        struct loom_ds_colbuf cols[64];
        struct table g = {0};
        size_t n;
        if (key) {
            n = counts[q + 1] - counts[q];
            if (gather (&t, rows + counts[q], n, &g) < 0) {
                table_free (&g);
                rc = cmd_error (cmd, "out of memory");
                goto done_w;
            }
            slice (&g, 0, cols);
        } else {
            size_t lo = t.n * q / (size_t)nparts, hi = t.n * (q + 1) / (size_t)nparts;
            n = hi - lo;
            slice (&t, lo, cols);
        }
        int wrc = loom_ds_write_partition (w, q, n, cols, &err);
        table_free (&g);
        if (wrc < 0) {
            rc = cmd_error (cmd, "%s", err.text);
            goto done_w;
        }
    }
    if (loom_ds_commit (w, &err) < 0)
        rc = cmd_error (cmd, "%s", err.text);
done_w:
    free (rows);
    free (counts);
    free (part_of);
    loom_ds_writer_destroy (w);
done:
    if (rc == 0 && !repair)
        printf ("%s: %zu records in %ld partition%s\n", path, t.n, nparts,
                nparts == 1 ? "" : "s");
    free (params_text);
    free (rargv);
    free (absfile);
    table_free (&t);
    loom_ds_schema_destroy (s);
    return rc;
}

const struct cmd cmd_ds_import = {
    .name = "ds import",
    .usage = "--csv --schema SCHEMA [--partitions N] [--key COL [--seed S]] [--header] "
             "FILE DATASET",
    .summary = "Create a dataset from a CSV file",
    .fn = import_main,
    .options = options,
    .description =
        "Types: i32, i64, u64, f64, strN (at most N bytes, NUL-padded), bytes.\n"
        "Rows go to partitions in contiguous blocks, or by hash of --key (the same\n"
        "hash as libcomm's shuffle, so jobs can read the partitions without a\n"
        "reshuffle). Any bad line stops the import with FILE:LINE and nothing written.",
};
