/* SPDX-License-Identifier: MIT */
/* Fuzz target: the small parsers of loom::datasets' metadata: schema text
 * ("name:type,...") and partition lists ("3,5-7"), as given on command lines and
 * stored in manifests. A schema that parses must format back to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *s = malloc (size + 1);
    if (!s)
        return 0;
    memcpy (s, data, size);
    s[size] = '\0';
    loom_error_t err;
    loom_ds_schema_t *schema = loom_ds_schema_parse (s, &err);
    if (schema) {
        char *text = loom_ds_schema_format (schema);
        loom_ds_schema_t *again = text ? loom_ds_schema_parse (text, &err) : NULL;
        if (!again || !loom_ds_schema_equal (schema, again))
            abort ();
        loom_ds_schema_destroy (again);
        free (text);
        loom_ds_schema_destroy (schema);
    }
    bool sel[1000];
    memset (sel, 0, sizeof (sel));
    (void)loom__parse_partlist (s, 1000, sel, &err);
    free (s);
    return 0;
}
