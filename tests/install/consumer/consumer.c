/* SPDX-License-Identifier: MIT */
/* A program outside the Loom tree, built against an installed Loom. */
#include <stdio.h>
#include <stdlib.h>

#include <loom/loom.h>

int main (void)
{
    loom_error_t error;
    loom_topo_t *topo =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 core:2 pu:1", &error);
    if (!topo) {
        fprintf (stderr, "consumer: %s\n", error.text);
        return 1;
    }
    struct loom_topo_counts c;
    loom_topo_counts (topo, &c);
    loom_topo_destroy (topo);
    uint64_t h = loom_hash64 ("abc", 3, 0);
    if (c.cores != 4 || h != 0x44BC2CF5AD770999ULL) {
        fprintf (stderr, "consumer: wrong results (cores %u, hash %llx)\n", c.cores,
                 (unsigned long long)h);
        return 1;
    }
    printf ("consumer: loom %s ok\n", LOOM_VERSION_STRING);
    return 0;
}
