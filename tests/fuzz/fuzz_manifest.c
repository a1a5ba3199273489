/* SPDX-License-Identifier: MIT */
/* Fuzz target: the dataset manifest reader (datasets/manifest.c), which must turn any
 * bytes into either a fully validated manifest or one error line, never a crash. A
 * manifest that parses must also serialize and parse back to the same text.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    struct ds_manifest m;
    loom_error_t err;
    if (loom__manifest_parse ((const char *)data, size, &m, &err) < 0) {
        if (err.text[0] == '\0' || strchr (err.text, '\n'))
            abort (); /* errors are one non-empty line */
        return 0;
    }
    /* Use what a reader uses: partition lookups and the dataset checksum. */
    if (m.partitioner != LOOM_DS_PART_NONE) {
        const struct ds_column *c = &m.schema.cols[m.key];
        uint8_t key[65536] = {0};
        int64_t p =
            loom__partition_of (&m, key, c->type == LOOM_DS_BYTES ? 3 : c->width);
        if (p < 0 || p >= m.nparts)
            abort ();
    }
    (void)loom__manifest_checksum (&m);
    char *text = loom__manifest_format (&m);
    if (text) {
        struct ds_manifest again;
        if (loom__manifest_parse (text, strlen (text), &again, &err) < 0)
            abort (); /* what we write, we must read */
        char *text2 = loom__manifest_format (&again);
        if (!text2 || strcmp (text, text2) != 0)
            abort ();
        free (text2);
        loom__manifest_free (&again);
        free (text);
    }
    loom__manifest_free (&m);
    return 0;
}
