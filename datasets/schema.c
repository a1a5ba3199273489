/* SPDX-License-Identifier: MIT */
/* Schemas: ordered, named, typed columns, and their "name:type,..." text form. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct {
    const char *name;
    loom_ds_type_t type;
    size_t size;
} types[] = {
    {"i32", LOOM_DS_INT32, 4},   {"i64", LOOM_DS_INT64, 8},
    {"u64", LOOM_DS_UINT64, 8},  {"f64", LOOM_DS_FLOAT64, 8},
    {"bytes", LOOM_DS_BYTES, 0},
};

const char *loom__type_name (loom_ds_type_t t)
{
    for (size_t i = 0; i < sizeof (types) / sizeof (types[0]); i++)
        if (types[i].type == t)
            return types[i].name;
    return t == LOOM_DS_FIXSTR ? "str" : "?";
}

size_t loom__type_size (loom_ds_type_t t, size_t width)
{
    if (t == LOOM_DS_FIXSTR)
        return width;
    for (size_t i = 0; i < sizeof (types) / sizeof (types[0]); i++)
        if (types[i].type == t)
            return types[i].size;
    return 0;
}

loom_ds_schema_t *loom_ds_schema_create (void)
{
    loom_ds_schema_t *s = calloc (1, sizeof (*s));
    if (!s)
        errno = ENOMEM;
    return s;
}

void loom_ds_schema_destroy (loom_ds_schema_t *s)
{
    int saved = errno;
    free (s);
    errno = saved;
}

static int valid_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > DS_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_'))
            return 0;
    }
    return 1;
}

int loom_ds_schema_add (loom_ds_schema_t *s,
                        const char *name,
                        loom_ds_type_t type,
                        size_t width,
                        loom_error_t *error)
{
    if (!s || !name)
        return loom_errset (error, EINVAL, "schema: missing schema or column name");
    if (!valid_name (name))
        return loom_errset (error, EINVAL,
                            "schema: bad column name '%.80s' (1-63 characters of "
                            "A-Z a-z 0-9 _)",
                            name);
    if (type < LOOM_DS_INT32 || type > LOOM_DS_BYTES)
        return loom_errset (error, EINVAL, "schema: column '%s': unknown type %d", name,
                            (int)type);
    if (type == LOOM_DS_FIXSTR ? (width < 1 || width > 65535) : width != 0)
        return loom_errset (error, EINVAL, "schema: column '%s': bad width %zu", name,
                            width);
    if (s->ncols == DS_MAX_COLS)
        return loom_errset (error, EINVAL, "schema: more than %d columns", DS_MAX_COLS);
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp (s->cols[i].name, name) == 0)
            return loom_errset (error, EINVAL, "schema: duplicate column '%s'", name);
    struct ds_column *c = &s->cols[s->ncols++];
    strcpy (c->name, name);
    c->type = type;
    c->width = loom__type_size (type, width);
    return 0;
}

/* Parse one "name:type" item of 'len' bytes. */
static int
parse_item (loom_ds_schema_t *s, const char *item, size_t len, loom_error_t *error)
{
    char buf[128];
    if (len >= sizeof (buf))
        return loom_errset (error, EINVAL, "schema: column '%.40s...' is too long",
                            item);
    memcpy (buf, item, len);
    buf[len] = '\0';
    char *colon = strchr (buf, ':');
    if (!colon)
        return loom_errset (error, EINVAL,
                            "schema: column '%s' has no type (write name:type)", buf);
    *colon = '\0';
    const char *tname = colon + 1;
    for (size_t i = 0; i < sizeof (types) / sizeof (types[0]); i++)
        if (strcmp (tname, types[i].name) == 0)
            return loom_ds_schema_add (s, buf, types[i].type, 0, error);
    if (strncmp (tname, "str", 3) == 0 && tname[3] >= '1' && tname[3] <= '9') {
        char *end;
        errno = 0;
        unsigned long w = strtoul (tname + 3, &end, 10);
        if (*end == '\0' && errno == 0)
            return loom_ds_schema_add (s, buf, LOOM_DS_FIXSTR, w, error);
    }
    return loom_errset (error, EINVAL,
                        "schema: column '%s': unknown type '%s' (i32, i64, u64, f64, "
                        "strN, bytes)",
                        buf, tname);
}

loom_ds_schema_t *loom_ds_schema_parse (const char *spec, loom_error_t *error)
{
    if (!spec || !*spec) {
        loom_errset (error, EINVAL, "schema: empty schema");
        return NULL;
    }
    loom_ds_schema_t *s = loom_ds_schema_create ();
    if (!s) {
        loom_errset (error, ENOMEM, "schema: out of memory");
        return NULL;
    }
    const char *p = spec;
    for (;;) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen (p);
        if (parse_item (s, p, len, error) < 0) {
            loom_ds_schema_destroy (s);
            return NULL;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return s;
}

char *loom_ds_schema_format (const loom_ds_schema_t *s)
{
    size_t cap = 1 + s->ncols * (DS_MAX_NAME + 16);
    char *out = malloc (cap), *p = out;
    if (!out) {
        errno = ENOMEM;
        return NULL;
    }
    *p = '\0';
    for (size_t i = 0; i < s->ncols; i++) {
        const struct ds_column *c = &s->cols[i];
        if (c->type == LOOM_DS_FIXSTR)
            p += sprintf (p, "%s%s:str%zu", i ? "," : "", c->name, c->width);
        else
            p += sprintf (p, "%s%s:%s", i ? "," : "", c->name,
                          loom__type_name (c->type));
    }
    return out;
}

size_t loom_ds_schema_ncols (const loom_ds_schema_t *s)
{
    return s->ncols;
}

const char *loom_ds_schema_name (const loom_ds_schema_t *s, size_t i)
{
    return i < s->ncols ? s->cols[i].name : NULL;
}

loom_ds_type_t loom_ds_schema_type (const loom_ds_schema_t *s, size_t i)
{
    return i < s->ncols ? s->cols[i].type : 0;
}

size_t loom_ds_schema_width (const loom_ds_schema_t *s, size_t i)
{
    return i < s->ncols ? s->cols[i].width : 0;
}

int loom_ds_schema_find (const loom_ds_schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp (s->cols[i].name, name) == 0)
            return (int)i;
    errno = ENOENT;
    return -1;
}

int loom_ds_schema_equal (const loom_ds_schema_t *a, const loom_ds_schema_t *b)
{
    if (a->ncols != b->ncols)
        return 0;
    for (size_t i = 0; i < a->ncols; i++)
        if (strcmp (a->cols[i].name, b->cols[i].name) != 0
            || a->cols[i].type != b->cols[i].type
            || a->cols[i].width != b->cols[i].width)
            return 0;
    return 1;
}

loom_ds_schema_t *loom_ds_schema_copy (const loom_ds_schema_t *s)
{
    loom_ds_schema_t *c = loom_ds_schema_create ();
    if (c)
        *c = *s;
    return c;
}

size_t loom__nstored (const loom_ds_schema_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ncols; i++)
        n += s->cols[i].type == LOOM_DS_BYTES ? 2 : 1;
    return n;
}
