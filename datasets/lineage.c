/* SPDX-License-Identifier: MIT */
/* Lineage JSON: what produced a dataset, from which inputs (with their checksums),
 * with which parameters, and how to run it again (docs/datasets.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <loom/version.h>

#include "internal.h"

static const char *dep_name (loom_ds_dep_t d)
{
    return d == LOOM_DS_DEP_NARROW ? "narrow" : d == LOOM_DS_DEP_WIDE ? "wide" : "none";
}

/* Returns compact JSON text (malloc'ed), or NULL with errno and 'error'. */
char *loom__lineage_build (const struct loom_ds_lineage *l, loom_error_t *error)
{
    if (!l) {
        char *s = strdup ("null");
        if (!s)
            loom_errset (error, ENOMEM, "lineage: out of memory");
        return s;
    }
    json_t *o = json_object (), *argv = json_array (), *inputs = json_array (), *params;
    char cwd[PATH_MAX];
    if (!o || !argv || !inputs)
        goto nomem;
    json_object_set_new (o, "producer", json_string (l->producer ? l->producer : ""));
    json_object_set_new (o, "framework",
                         l->framework ? json_string (l->framework) : json_null ());
    json_object_set_new (o, "loom_version", json_string (LOOM_VERSION_STRING));
    json_object_set_new (o, "dependency", json_string (dep_name (l->dep)));
    if (getcwd (cwd, sizeof (cwd)))
        json_object_set_new (o, "cwd", json_string (cwd));
    if (l->params_json) {
        json_error_t jerr;
        params = json_loads (l->params_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!params || !json_is_object (params)) {
            json_decref (params);
            json_decref (o);
            json_decref (argv);
            json_decref (inputs);
            loom_errset (error, EINVAL, "lineage: params are not a JSON object: %s",
                         params ? "not an object" : jerr.text);
            return NULL;
        }
    } else {
        params = json_object ();
    }
    json_object_set_new (o, "params", params);
    for (size_t i = 0; l->argv && l->argv[i]; i++)
        json_array_append_new (argv, json_string (l->argv[i]));
    json_object_set_new (o, "argv", l->argv ? argv : json_null ());
    if (!l->argv)
        json_decref (argv);
    argv = NULL;
    for (size_t i = 0; i < l->ninputs; i++) {
        struct ds_manifest m;
        loom_error_t e;
        if (!l->inputs || !l->inputs[i]) {
            json_decref (o);
            json_decref (inputs);
            loom_errset (error, EINVAL, "lineage: input %zu is NULL", i);
            return NULL;
        }
        if (loom__manifest_load (l->inputs[i], &m, &e) < 0) {
            int saved = errno;
            json_decref (o);
            json_decref (inputs);
            loom_errset (error, saved, "lineage: input %s", e.text);
            return NULL;
        }
        char hex[17];
        loom__hex64 (loom__manifest_checksum (&m), hex);
        char *abs = realpath (l->inputs[i], NULL);
        json_t *in = json_object ();
        json_object_set_new (in, "path", json_string (l->inputs[i]));
        if (abs)
            json_object_set_new (in, "realpath", json_string (abs));
        json_object_set_new (in, "checksum", json_string (hex));
        json_object_set_new (in, "generation", json_integer (m.generation));
        json_array_append_new (inputs, in);
        free (abs);
        loom__manifest_free (&m);
    }
    json_object_set_new (o, "inputs", inputs);
    char *s = json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (o);
    if (!s)
        loom_errset (error, ENOMEM, "lineage: out of memory");
    return s;
nomem:
    json_decref (o);
    json_decref (argv);
    json_decref (inputs);
    loom_errset (error, ENOMEM, "lineage: out of memory");
    return NULL;
}
