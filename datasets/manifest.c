/* SPDX-License-Identifier: MIT */
/* The manifest: manifest.json, the dataset's commit mark and table of contents.
 *
 * It is JSON (readable with jq or any language) and carries its own checksum: the
 * "checksum" member is xxh64 of the compact, key-sorted serialization of every other
 * member, so flipped bytes are caught even where they still parse. The parser checks
 * every field (this is what the fuzz target exercises): a manifest is trusted only
 * after it passes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <loom/hash.h>

#include "internal.h"

#define MAX_MANIFEST (256u << 20)

void loom__manifest_free (struct ds_manifest *m)
{
    if (!m)
        return;
    int saved = errno;
    if (m->split) {
        for (uint32_t i = 0; i + 1 < m->nparts; i++)
            free (m->split[i]);
    }
    free (m->split);
    free (m->split_len);
    free (m->created);
    free (m->trace_id);
    free (m->lineage);
    free (m->parts);
    memset (m, 0, sizeof (*m));
    errno = saved;
}

static const char *kind_name (loom_ds_partitioner_t k)
{
    return k == LOOM_DS_PART_HASH ? "hash" : k == LOOM_DS_PART_RANGE ? "range" : "none";
}

static const char *persist_name (loom_ds_persist_t p)
{
    return p == LOOM_DS_PERSIST_MEMORY ? "memory"
           : p == LOOM_DS_PERSIST_BOTH ? "both"
                                       : "disk";
}

static char *hexbytes (const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc (2 * n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static int unhexbytes (const char *s, uint8_t **out, size_t *n)
{
    size_t len = strlen (s);
    if (len % 2)
        return -1;
    uint8_t *p = malloc (len / 2 + 1);
    if (!p)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (d < 0) {
                free (p);
                return -1;
            }
            v = v * 16 + d;
        }
        p[i] = (uint8_t)v;
    }
    *out = p;
    *n = len / 2;
    return 0;
}

static json_t *hex64_json (uint64_t v)
{
    char buf[17];
    loom__hex64 (v, buf);
    return json_string (buf);
}

static json_t *partitioner_obj (const struct ds_manifest *m)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    json_object_set_new (o, "kind", json_string (kind_name (m->partitioner)));
    if (m->partitioner != LOOM_DS_PART_NONE)
        json_object_set_new (o, "key", json_string (m->schema.cols[m->key].name));
    if (m->partitioner == LOOM_DS_PART_HASH) {
        json_object_set_new (o, "seed", hex64_json (m->seed));
        json_object_set_new (o, "function", json_string ("xxh64-multiply-shift"));
    }
    if (m->partitioner == LOOM_DS_PART_RANGE) {
        json_t *a = json_array ();
        for (uint32_t i = 0; i + 1 < m->nparts; i++) {
            char *h = hexbytes (m->split[i], m->split_len[i]);
            json_array_append_new (a, h ? json_string (h) : json_null ());
            free (h);
        }
        json_object_set_new (o, "splitters", a);
    }
    return o;
}

char *loom__partitioner_json (const struct ds_manifest *m)
{
    json_t *o = partitioner_obj (m);
    char *s = o ? json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (o);
    if (!s)
        errno = ENOMEM;
    return s;
}

static uint64_t self_checksum (json_t *root)
{
    char *s = json_dumps (root, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = s ? loom_hash64 (s, strlen (s), 0) : 0;
    free (s);
    return h;
}

char *loom__manifest_format (const struct ds_manifest *m)
{
    json_t *root = json_object (), *parts = json_array ();
    char *schema = loom_ds_schema_format (&m->schema);
    json_t *lineage = NULL;
    if (m->lineage && strcmp (m->lineage, "null") != 0)
        lineage = json_loads (m->lineage, 0, NULL);
    if (!root || !parts || !schema)
        goto nomem;
    json_object_set_new (root, "format", json_string ("loom-dataset"));
    json_object_set_new (root, "version", json_integer (LOOM_DS_FORMAT_VERSION));
    json_object_set_new (root, "generation", json_integer (m->generation));
    json_object_set_new (root, "schema", json_string (schema));
    json_object_set_new (root, "nparts", json_integer (m->nparts));
    json_object_set_new (root, "partitioner", partitioner_obj (m));
    json_object_set_new (root, "created", json_string (m->created ? m->created : ""));
    json_object_set_new (root, "trace_id",
                         m->trace_id ? json_string (m->trace_id) : json_null ());
    json_object_set_new (root, "lineage", lineage ? lineage : json_null ());
    json_object_set_new (root, "persist", json_string (persist_name (m->persist)));
    for (uint32_t i = 0; i < m->nparts; i++) {
        json_t *p = json_object ();
        json_object_set_new (p, "records",
                             json_integer ((json_int_t)m->parts[i].records));
        json_object_set_new (p, "checksum", hex64_json (m->parts[i].checksum));
        json_object_set_new (p, "bytes", json_integer ((json_int_t)m->parts[i].bytes));
        if (m->parts[i].owner >= 0)
            json_object_set_new (p, "owner", json_integer (m->parts[i].owner));
        json_array_append_new (parts, p);
    }
    json_object_set_new (root, "partitions", parts);
    parts = NULL;
    json_object_set_new (root, "checksum", hex64_json (self_checksum (root)));
    char *text = json_dumps (root, JSON_INDENT (1) | JSON_SORT_KEYS);
    json_decref (root);
    free (schema);
    if (!text)
        errno = ENOMEM;
    return text;
nomem:
    json_decref (root);
    json_decref (parts);
    free (schema);
    errno = ENOMEM;
    return NULL;
}

/* Fetch a member of type 'type'; fills 'error' naming it when missing or wrong. */
static json_t *member (json_t *o, const char *name, json_type type, loom_error_t *error)
{
    json_t *v = json_object_get (o, name);
    if (!v || json_typeof (v) != type) {
        loom_errset (error, EPROTO, "manifest: '%s' is %s", name,
                     v ? "of the wrong type" : "missing");
        return NULL;
    }
    return v;
}

static int get_hex64 (json_t *o, const char *name, uint64_t *v, loom_error_t *error)
{
    json_t *s = member (o, name, JSON_STRING, error);
    if (!s)
        return -1;
    if (loom__unhex64 (json_string_value (s), v) < 0)
        return loom_errset (error, EPROTO, "manifest: '%s' is not 16 hex digits", name);
    return 0;
}

static int
get_uint (json_t *o, const char *name, uint64_t max, uint64_t *v, loom_error_t *error)
{
    json_t *i = member (o, name, JSON_INTEGER, error);
    if (!i)
        return -1;
    json_int_t x = json_integer_value (i);
    if (x < 0 || (uint64_t)x > max)
        return loom_errset (error, EPROTO, "manifest: '%s' is out of range", name);
    *v = (uint64_t)x;
    return 0;
}

static int parse_partitioner (json_t *o, struct ds_manifest *m, loom_error_t *error)
{
    json_t *kind = member (o, "kind", JSON_STRING, error);
    if (!kind)
        return -1;
    const char *k = json_string_value (kind);
    if (strcmp (k, "none") == 0) {
        m->partitioner = LOOM_DS_PART_NONE;
        m->key = -1;
        return 0;
    }
    if (strcmp (k, "hash") == 0)
        m->partitioner = LOOM_DS_PART_HASH;
    else if (strcmp (k, "range") == 0)
        m->partitioner = LOOM_DS_PART_RANGE;
    else
        return loom_errset (error, EPROTO, "manifest: unknown partitioner '%.40s'", k);
    json_t *key = member (o, "key", JSON_STRING, error);
    if (!key)
        return -1;
    m->key = loom_ds_schema_find (&m->schema, json_string_value (key));
    if (m->key < 0)
        return loom_errset (error, EPROTO,
                            "manifest: partitioner key '%.40s' is not a column",
                            json_string_value (key));
    if (m->partitioner == LOOM_DS_PART_HASH)
        return get_hex64 (o, "seed", &m->seed, error);
    json_t *a = member (o, "splitters", JSON_ARRAY, error);
    if (!a)
        return -1;
    if (json_array_size (a) != m->nparts - 1)
        return loom_errset (error, EPROTO, "manifest: %zu splitters for %u partitions",
                            json_array_size (a), m->nparts);
    m->split = calloc (m->nparts, sizeof (*m->split));
    m->split_len = calloc (m->nparts, sizeof (*m->split_len));
    if (!m->split || !m->split_len)
        return loom_errset (error, ENOMEM, "manifest: out of memory");
    const struct ds_column *col = &m->schema.cols[m->key];
    for (uint32_t i = 0; i + 1 < m->nparts; i++) {
        json_t *s = json_array_get (a, i);
        if (!json_is_string (s)
            || unhexbytes (json_string_value (s), &m->split[i], &m->split_len[i]) < 0)
            return loom_errset (error, EPROTO, "manifest: splitter %u is not hex bytes",
                                i);
        if (col->type != LOOM_DS_BYTES && m->split_len[i] != col->width)
            return loom_errset (error, EPROTO,
                                "manifest: splitter %u has %zu bytes, "
                                "column '%s' %zu",
                                i, m->split_len[i], col->name, col->width);
        if (i > 0
            && loom__key_cmp (col->type, m->split[i - 1], m->split_len[i - 1],
                              m->split[i], m->split_len[i])
                   > 0)
            return loom_errset (error, EPROTO,
                                "manifest: splitters are not ascending at %u", i);
    }
    return 0;
}

int loom__manifest_parse (const char *text,
                          size_t len,
                          struct ds_manifest *m,
                          loom_error_t *error)
{
    memset (m, 0, sizeof (*m));
    m->key = -1;
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson quotes the bad input, which may hold newlines or any byte: keep
         * the error one printable line (found by fuzzing).
         */
        for (char *c = jerr.text; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        return loom_errset (error, EPROTO, "manifest: not valid JSON (line %d: %s)",
                            jerr.line, jerr.text);
    }
    uint64_t v = 0,
             sum = 0; /* set by get_uint/get_hex64 before use; -O3 cannot see it */
    json_t *o;
    loom_ds_schema_t *schema = NULL;
    if (!json_is_object (root)) {
        loom_errset (error, EPROTO, "manifest: not a JSON object");
        goto error;
    }
    if (!(o = member (root, "format", JSON_STRING, error)))
        goto error;
    if (strcmp (json_string_value (o), "loom-dataset") != 0) {
        loom_errset (error, EPROTO, "manifest: not a Loom dataset manifest");
        goto error;
    }
    if (get_uint (root, "version", UINT32_MAX, &v, error) < 0)
        goto error;
    if (v != LOOM_DS_FORMAT_VERSION) {
        loom_errset (error, EPROTO, "manifest: format version %llu, this Loom reads %d",
                     (unsigned long long)v, LOOM_DS_FORMAT_VERSION);
        goto error;
    }
    if (get_hex64 (root, "checksum", &sum, error) < 0)
        goto error;
    json_object_del (root, "checksum");
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* Fuzz builds skip this check, or mutations would rarely reach the validation
     * below it; the unit and system tests cover the check itself.
     */
    if (self_checksum (root) != sum) {
        loom_errset (error, EPROTO, "manifest: checksum mismatch (corrupt manifest)");
        goto error;
    }
#endif
    if (get_uint (root, "generation", UINT32_MAX, &v, error) < 0)
        goto error;
    m->generation = (uint32_t)v;
    if (!(o = member (root, "schema", JSON_STRING, error)))
        goto error;
    if (!(schema = loom_ds_schema_parse (json_string_value (o), error))) {
        errno = errno == ENOMEM ? ENOMEM : EPROTO;
        goto error;
    }
    m->schema = *schema;
    loom_ds_schema_destroy (schema);
    if (get_uint (root, "nparts", DS_MAX_NPARTS, &v, error) < 0)
        goto error;
    if (v == 0) {
        loom_errset (error, EPROTO, "manifest: 'nparts' is 0");
        goto error;
    }
    m->nparts = (uint32_t)v;
    if (!(o = member (root, "partitioner", JSON_OBJECT, error))
        || parse_partitioner (o, m, error) < 0)
        goto error;
    if (!(o = member (root, "created", JSON_STRING, error))
        || !(m->created = strdup (json_string_value (o))))
        goto error;
    o = json_object_get (root, "trace_id");
    if (o && json_is_string (o))
        m->trace_id = strdup (json_string_value (o));
    else if (o && !json_is_null (o)) {
        loom_errset (error, EPROTO, "manifest: 'trace_id' is of the wrong type");
        goto error;
    }
    o = json_object_get (root, "lineage");
    if (o && !json_is_object (o) && !json_is_null (o)) {
        loom_errset (error, EPROTO, "manifest: 'lineage' is of the wrong type");
        goto error;
    }
    m->lineage = o ? json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                   : strdup ("null");
    if (!m->lineage) {
        loom_errset (error, ENOMEM, "manifest: out of memory");
        goto error;
    }
    if (!(o = member (root, "persist", JSON_STRING, error)))
        goto error;
    const char *p = json_string_value (o);
    m->persist = strcmp (p, "memory") == 0 ? LOOM_DS_PERSIST_MEMORY
                 : strcmp (p, "both") == 0 ? LOOM_DS_PERSIST_BOTH
                                           : LOOM_DS_PERSIST_DISK;
    json_t *parts = member (root, "partitions", JSON_ARRAY, error);
    if (!parts)
        goto error;
    if (json_array_size (parts) != m->nparts) {
        loom_errset (error, EPROTO, "manifest: %zu partitions listed, 'nparts' is %u",
                     json_array_size (parts), m->nparts);
        goto error;
    }
    if (!(m->parts = calloc (m->nparts, sizeof (*m->parts)))) {
        loom_errset (error, ENOMEM, "manifest: out of memory");
        goto error;
    }
    for (uint32_t i = 0; i < m->nparts; i++) {
        json_t *e = json_array_get (parts, i);
        struct ds_partinfo *pi = &m->parts[i];
        uint64_t owner = 0;
        if (!json_is_object (e)
            || get_uint (e, "records", INT64_MAX, &pi->records, error) < 0
            || get_hex64 (e, "checksum", &pi->checksum, error) < 0
            || get_uint (e, "bytes", INT64_MAX, &pi->bytes, error) < 0) {
            loom_errset (error, EPROTO, "manifest: partition %u: bad entry", i);
            goto error;
        }
        pi->owner = -1;
        if (json_object_get (e, "owner")) {
            if (get_uint (e, "owner", INT32_MAX, &owner, error) < 0)
                goto error;
            pi->owner = (int32_t)owner;
        }
        pi->present = true;
    }
    json_decref (root);
    return 0;
error : {
    int saved = errno == ENOMEM ? ENOMEM : EPROTO;
    /* Errors may quote manifest text (a column name...): keep them one line. */
    for (char *c = error ? error->text : NULL; c && *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
            *c = '?';
    json_decref (root);
    loom__manifest_free (m);
    errno = saved;
    return -1;
}
}

int loom__manifest_load (const char *dir, struct ds_manifest *m, loom_error_t *error)
{
    char *path = loom__path_join (dir, DS_MANIFEST);
    if (!path)
        return loom_errset (error, ENOMEM, "%s: out of memory", dir);
    size_t len = 0;
    char *text = loom__read_file (path, &len, MAX_MANIFEST);
    if (!text) {
        int saved = errno;
        free (path);
        if (saved == ENOENT)
            return loom_errset (error, ENOENT,
                                "%s: no dataset (no %s: missing, or a write that never "
                                "committed)",
                                dir, DS_MANIFEST);
        return loom_errset (error, saved == ENOTDIR ? ENOENT : saved, "%s: %s", dir,
                            strerror (saved));
    }
    free (path);
    loom_error_t e;
    int rc = loom__manifest_parse (text, len, m, &e);
    free (text);
    /* e.text starts with "manifest: "; name the file instead. */
    if (rc < 0)
        return loom_errset (error, errno, "%s/%s:%s", dir, DS_MANIFEST,
                            e.text + (strncmp (e.text, "manifest:", 9) == 0 ? 9 : 0));
    return 0;
}

uint64_t loom__manifest_checksum (const struct ds_manifest *m)
{
    loom_hash_state_t *h = loom_hash_state_create (0);
    if (!h)
        return 0;
    for (uint32_t i = 0; i < m->nparts; i++) {
        uint8_t w[8];
        for (int b = 0; b < 8; b++)
            w[b] = (uint8_t)(m->parts[i].checksum >> (8 * b));
        loom_hash_state_update (h, w, 8);
    }
    uint64_t d = loom_hash_state_digest (h);
    loom_hash_state_destroy (h);
    return d;
}
