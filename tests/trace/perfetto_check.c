/* SPDX-License-Identifier: MIT */
/* Validates what ui.perfetto.dev's JSON importer relies on: a traceEvents array of
 * objects, a known phase, integer pid/tid, a non-negative ts (and dur for slices), a
 * string name, object args, and flow ends that have a start with the same id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "perfetto_check.h"

#define FAIL(...)                                                                      \
    do {                                                                               \
        snprintf (why, whylen, __VA_ARGS__);                                           \
        goto fail;                                                                     \
    } while (0)

static int cmp_ll (const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static int has (const long long *v, size_t n, long long x)
{
    return bsearch (&x, v, n, sizeof (*v), cmp_ll) != NULL;
}

int perfetto_check (const char *text,
                    struct perfetto_stats *st,
                    char *why,
                    size_t whylen)
{
    json_error_t jerr;
    long long *outs = NULL, *ins = NULL, *pids = NULL;
    memset (st, 0, sizeof (*st));
    json_t *root = json_loads (text, 0, &jerr);
    if (!root) {
        snprintf (why, whylen, "not JSON: line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    json_t *evs = json_object_get (root, "traceEvents");
    if (!json_is_object (root) || !json_is_array (evs))
        FAIL ("no traceEvents array");
    size_t n = json_array_size (evs), nout = 0, nin = 0, npids = 0;
    outs = malloc ((n + 1) * sizeof (*outs));
    ins = malloc ((n + 1) * sizeof (*ins));
    pids = malloc ((n + 1) * sizeof (*pids));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get (evs, i);
        if (!json_is_object (e))
            FAIL ("event %zu is not an object", i);
        const char *ph = json_string_value (json_object_get (e, "ph"));
        const char *name = json_string_value (json_object_get (e, "name"));
        json_t *pid = json_object_get (e, "pid"), *tid = json_object_get (e, "tid");
        json_t *ts = json_object_get (e, "ts"), *args = json_object_get (e, "args");
        if (!ph || strlen (ph) != 1 || !strchr ("XBEiICMstf", ph[0]))
            FAIL ("event %zu: bad ph", i);
        if (!name)
            FAIL ("event %zu: no name", i);
        if (!json_is_integer (pid) || !json_is_integer (tid))
            FAIL ("event %zu (%s): pid and tid must be integers", i, name);
        if (args && !json_is_object (args))
            FAIL ("event %zu (%s): args is not an object", i, name);
        st->events++;
        if (ph[0] == 'M') {
            st->meta++;
            if (!json_is_object (args))
                FAIL ("metadata %zu (%s) has no args", i, name);
            if (strcmp (name, "process_name") == 0) {
                if (!json_is_string (json_object_get (args, "name")))
                    FAIL ("process_name %zu has no args.name", i);
                pids[npids++] = json_integer_value (pid);
            }
            continue;
        }
        if (!json_is_number (ts) || json_number_value (ts) < 0)
            FAIL ("event %zu (%s): ts must be a number >= 0", i, name);
        double end = json_number_value (ts);
        switch (ph[0]) {
        case 'X': {
            json_t *dur = json_object_get (e, "dur");
            if (!json_is_number (dur) || json_number_value (dur) < 0)
                FAIL ("slice %zu (%s): dur must be a number >= 0", i, name);
            end += json_number_value (dur);
            st->slices++;
            break;
        }
        case 'i':
        case 'I': {
            const char *s = json_string_value (json_object_get (e, "s"));
            if (s && strcmp (s, "t") && strcmp (s, "p") && strcmp (s, "g"))
                FAIL ("instant %zu (%s): scope '%s'", i, name, s);
            st->instants++;
            break;
        }
        case 'C': {
            const char *k;
            json_t *v;
            if (!json_is_object (args) || json_object_size (args) == 0)
                FAIL ("counter %zu (%s) has no values", i, name);
            json_object_foreach (args, k, v)
            {
                if (!json_is_number (v))
                    FAIL ("counter %zu (%s): %s is not a number", i, name, k);
            }
            st->counters++;
            break;
        }
        case 's':
        case 'f': {
            json_t *id = json_object_get (e, "id");
            if (!json_is_integer (id))
                FAIL ("flow %zu (%s): id must be an integer", i, name);
            if (ph[0] == 's') {
                outs[nout++] = json_integer_value (id);
                st->flows_out++;
            } else {
                const char *bp = json_string_value (json_object_get (e, "bp"));
                if (!bp || strcmp (bp, "e") != 0)
                    FAIL ("flow end %zu (%s): bp must be \"e\"", i, name);
                ins[nin++] = json_integer_value (id);
                st->flows_in++;
            }
            break;
        }
        default:
            break;
        }
        if (end > st->max_end_us)
            st->max_end_us = end;
    }
    qsort (outs, nout, sizeof (*outs), cmp_ll);
    qsort (pids, npids, sizeof (*pids), cmp_ll);
    for (size_t i = 0; i < npids; i++)
        st->processes += i == 0 || pids[i] != pids[i - 1];
    for (size_t i = 0; i < nin; i++) {
        if (!has (outs, nout, ins[i]))
            FAIL ("flow end with id %lld has no start", ins[i]);
        st->flows_matched++;
    }
    free (outs);
    free (ins);
    free (pids);
    json_decref (root);
    return 0;
fail:
    free (outs);
    free (ins);
    free (pids);
    json_decref (root);
    return -1;
}
