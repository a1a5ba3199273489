/* SPDX-License-Identifier: MIT */
/* validate-perfetto FILE [PROCESSES]: check a Chrome trace-event JSON file; print its
 * counts; with PROCESSES, require that many named processes. Exit 1 if invalid.
 */
#include <stdio.h>
#include <stdlib.h>

#include "perfetto_check.h"

int main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: validate-perfetto FILE [PROCESSES]\n");
        return 2;
    }
    FILE *f = fopen (argv[1], "rb");
    if (!f) {
        perror (argv[1]);
        return 1;
    }
    fseek (f, 0, SEEK_END);
    long len = ftell (f);
    rewind (f);
    char *text = malloc ((size_t)len + 1);
    if (!text || fread (text, 1, (size_t)len, f) != (size_t)len) {
        fprintf (stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    fclose (f);
    text[len] = '\0';
    struct perfetto_stats st;
    char why[256];
    if (perfetto_check (text, &st, why, sizeof (why)) < 0) {
        fprintf (stderr, "%s: invalid: %s\n", argv[1], why);
        return 1;
    }
    free (text);
    printf ("events %zu slices %zu instants %zu counters %zu flows %zu/%zu matched %zu "
            "processes %zu\n",
            st.events, st.slices, st.instants, st.counters, st.flows_out, st.flows_in,
            st.flows_matched, st.processes);
    if (argc > 2 && st.processes != (size_t)atoi (argv[2])) {
        fprintf (stderr, "%s: %zu processes, expected %s\n", argv[1], st.processes,
                 argv[2]);
        return 1;
    }
    return 0;
}
