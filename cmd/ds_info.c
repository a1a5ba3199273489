/* SPDX-License-Identifier: MIT */
/* `loom ds info`: schema, partitioner, partitions, sizes and lineage of a dataset. */
#include <inttypes.h>
#include <stdlib.h>

#include <jansson.h>

#include "ds.h"

enum { OPT_JSON = 256, OPT_PARTS };

static const struct cmd_option options[] = {
    {"partitions", 0, 'p', NULL,
     "Also list every partition (records, bytes, checksum)"},
    {"json", 0, OPT_JSON, NULL, "Print one JSON object for scripts"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *type_text (const loom_ds_schema_t *s, size_t c, char buf[32])
{
    static const char *names[] = {"?", "i32", "i64", "u64", "f64", "str", "bytes"};
    loom_ds_type_t t = loom_ds_schema_type (s, c);
    if (t == LOOM_DS_FIXSTR)
        snprintf (buf, 32, "str%zu", loom_ds_schema_width (s, c));
    else
        snprintf (buf, 32, "%s", names[t <= LOOM_DS_BYTES ? t : 0]);
    return buf;
}

static const char *part_text (loom_ds_partitioner_t p)
{
    return p == LOOM_DS_PART_HASH ? "hash" : p == LOOM_DS_PART_RANGE ? "range" : "none";
}

static uint64_t total_bytes (const loom_ds_t *ds)
{
    uint64_t b = 0;
    for (uint32_t i = 0; i < loom_ds_nparts (ds); i++)
        b += loom_ds_part_size (ds, i);
    return b;
}

static int print_json (const char *path, const loom_ds_t *ds, int parts)
{
    const loom_ds_schema_t *s = loom_ds_schema (ds);
    char *schema = loom_ds_schema_format (s), hex[32];
    json_t *o = json_object ();
    json_object_set_new (o, "path", json_string (path));
    json_object_set_new (o, "schema", json_string (schema ? schema : ""));
    free (schema);
    json_object_set_new (o, "nparts", json_integer (loom_ds_nparts (ds)));
    json_object_set_new (o, "records", json_integer ((json_int_t)loom_ds_records (ds)));
    json_object_set_new (o, "bytes", json_integer ((json_int_t)total_bytes (ds)));
    json_object_set_new (o, "partitioner",
                         json_string (part_text (loom_ds_partitioner (ds))));
    if (loom_ds_key_column (ds) >= 0)
        json_object_set_new (
            o, "key",
            json_string (loom_ds_schema_name (s, (size_t)loom_ds_key_column (ds))));
    snprintf (hex, sizeof (hex), "%016" PRIx64, loom_ds_checksum (ds));
    json_object_set_new (o, "checksum", json_string (hex));
    json_object_set_new (o, "created", json_string (loom_ds_created (ds)));
    const char *tid = loom_ds_trace_id (ds);
    json_object_set_new (o, "trace_id", tid ? json_string (tid) : json_null ());
    json_t *lin = json_loads (loom_ds_lineage_json (ds), JSON_DECODE_ANY, NULL);
    json_object_set_new (o, "lineage", lin ? lin : json_null ());
    if (parts) {
        json_t *a = json_array ();
        for (uint32_t i = 0; i < loom_ds_nparts (ds); i++) {
            json_t *p = json_object ();
            json_object_set_new (
                p, "records", json_integer ((json_int_t)loom_ds_part_records (ds, i)));
            json_object_set_new (p, "bytes",
                                 json_integer ((json_int_t)loom_ds_part_size (ds, i)));
            snprintf (hex, sizeof (hex), "%016" PRIx64, loom_ds_part_checksum (ds, i));
            json_object_set_new (p, "checksum", json_string (hex));
            json_array_append_new (a, p);
        }
        json_object_set_new (o, "partitions", a);
    }
    json_dumpf (o, stdout, JSON_INDENT (2));
    fputc ('\n', stdout);
    json_decref (o);
    return 0;
}

static int info_main (const struct cmd *cmd, int argc, char **argv)
{
    int json = 0, parts = 0, c;
    const char *arg;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 'p':
            parts = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            return 1;
        }
    }
    if (optind != argc - 1)
        return cmd_error (cmd, "give one dataset (see 'loom ds info --help')");
    const char *path = argv[optind];
    loom_ds_t *ds = ds_open_or_complain (cmd, path, NULL);
    if (!ds)
        return 1;
    if (json) {
        print_json (path, ds, parts);
        loom_ds_close (ds);
        return 0;
    }
    const loom_ds_schema_t *s = loom_ds_schema (ds);
    char buf[32];
    printf ("dataset:     %s\n", path);
    printf ("created:     %s\n", loom_ds_created (ds));
    printf ("trace id:    %s\n", loom_ds_trace_id (ds) ? loom_ds_trace_id (ds) : "-");
    printf ("columns:     %zu\n", loom_ds_schema_ncols (s));
    for (size_t i = 0; i < loom_ds_schema_ncols (s); i++)
        printf ("  %-24s %s\n", loom_ds_schema_name (s, i), type_text (s, i, buf));
    printf ("partitioner: %s", part_text (loom_ds_partitioner (ds)));
    if (loom_ds_key_column (ds) >= 0)
        printf (" on '%s'", loom_ds_schema_name (s, (size_t)loom_ds_key_column (ds)));
    if (loom_ds_partitioner (ds) == LOOM_DS_PART_HASH)
        printf (", seed %" PRIu64 " (0x%016" PRIx64 ")", loom_ds_seed (ds),
                loom_ds_seed (ds));
    printf ("\npartitions:  %u\n", loom_ds_nparts (ds));
    printf ("records:     %" PRIu64 "\n", loom_ds_records (ds));
    printf ("size:        %s\n", ds_human_bytes (total_bytes (ds), buf));
    printf ("checksum:    %016" PRIx64 "\n", loom_ds_checksum (ds));
    json_t *lin = json_loads (loom_ds_lineage_json (ds), JSON_DECODE_ANY, NULL);
    if (lin && !json_is_null (lin)) {
        char *text = json_dumps (lin, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("lineage:     %s\n", text ? text : "?");
        free (text);
    } else {
        printf ("lineage:     none recorded\n");
    }
    json_decref (lin);
    if (parts) {
        printf ("\n%9s %14s %12s  %s\n", "PARTITION", "RECORDS", "BYTES", "CHECKSUM");
        for (uint32_t i = 0; i < loom_ds_nparts (ds); i++)
            printf ("%9u %14" PRIu64 " %12" PRIu64 "  %016" PRIx64 "\n", i,
                    loom_ds_part_records (ds, i), loom_ds_part_size (ds, i),
                    loom_ds_part_checksum (ds, i));
    }
    loom_ds_close (ds);
    return 0;
}

const struct cmd cmd_ds_info = {
    .name = "ds info",
    .usage = "[--partitions] [--json] DATASET",
    .summary = "Show a dataset's schema, partitioner, partitions, sizes and lineage",
    .fn = info_main,
    .options = options,
    .description = "Reads only the manifest: cheap for any number of partitions.\n"
                   "It does not check the data; 'loom ds verify' does.",
};
