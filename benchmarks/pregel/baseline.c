/* SPDX-License-Identifier: MIT */
/* Pull-based single-threaded PageRank (see baseline.h). Why pull: each vertex's new
 * rank is one streaming pass over its in-edges gathering contrib[src], so the only
 * random accesses are reads (no read-modify-write), and the edge array is read
 * sequentially; 32-bit indices halve its bandwidth. This is the usual fastest
 * single-thread formulation short of reordering the graph (Hilbert order).
 */
#include <stdlib.h>
#include <string.h>

#include "baseline.h"

int baseline_build (struct baseline_graph *g,
                    unsigned scale,
                    size_t m,
                    const uint64_t *src,
                    const uint64_t *dst)
{
    memset (g, 0, sizeof (*g));
    size_t N = (size_t)1 << scale;
    if (m >= UINT32_MAX)
        return -1;
    /* Dense renumbering of the ids that appear. */
    uint32_t *map = calloc (N, sizeof (uint32_t));
    if (!map)
        return -1;
    for (size_t e = 0; e < m; e++)
        map[src[e]] = map[dst[e]] = 1;
    size_t n = 0;
    for (size_t v = 0; v < N; v++)
        map[v] = map[v] ? (uint32_t)n++ : UINT32_MAX;
    g->n = n;
    g->m = m;
    g->in_off = calloc (n + 1, sizeof (uint32_t));
    g->in_src = malloc ((m + 1) * sizeof (uint32_t));
    g->outdeg = calloc (n + 1, sizeof (uint32_t));
    g->rank = malloc ((n + 1) * sizeof (double));
    g->contrib = malloc ((n + 1) * sizeof (double));
    if (!g->in_off || !g->in_src || !g->outdeg || !g->rank || !g->contrib) {
        free (map);
        baseline_free (g);
        return -1;
    }
    for (size_t e = 0; e < m; e++) {
        g->in_off[map[dst[e]] + 1]++;
        g->outdeg[map[src[e]]]++;
    }
    for (size_t v = 0; v < n; v++)
        g->in_off[v + 1] += g->in_off[v];
    uint32_t *fill = malloc ((n + 1) * sizeof (uint32_t));
    if (!fill) {
        free (map);
        baseline_free (g);
        return -1;
    }
    memcpy (fill, g->in_off, n * sizeof (uint32_t));
    for (size_t e = 0; e < m; e++)
        g->in_src[fill[map[dst[e]]]++] = map[src[e]];
    free (fill);
    free (map);
    baseline_reset (g);
    return 0;
}

void baseline_reset (struct baseline_graph *g)
{
    for (size_t v = 0; v < g->n; v++)
        g->rank[v] = 1.0 / (double)g->n;
}

void baseline_iterate (struct baseline_graph *g, double d)
{
    const size_t n = g->n;
    const uint32_t *restrict off = g->in_off, *restrict in = g->in_src;
    double *restrict rank = g->rank, *restrict contrib = g->contrib;
    double dangling = 0;
    for (size_t v = 0; v < n; v++) {
        uint32_t deg = g->outdeg[v];
        if (deg)
            contrib[v] = rank[v] / deg;
        else {
            contrib[v] = 0;
            dangling += rank[v];
        }
    }
    const double base = (1.0 - d) / (double)n + d * dangling / (double)n;
    for (size_t v = 0; v < n; v++) {
        double sum = 0;
        for (uint32_t e = off[v]; e < off[v + 1]; e++)
            sum += contrib[in[e]];
        rank[v] = base + d * sum;
    }
}

void baseline_free (struct baseline_graph *g)
{
    free (g->in_off);
    free (g->in_src);
    free (g->outdeg);
    free (g->rank);
    free (g->contrib);
    memset (g, 0, sizeof (*g));
}

static uint32_t uf_find (uint32_t *parent, uint32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

uint64_t
baseline_cc (unsigned scale, size_t m, const uint64_t *src, const uint64_t *dst)
{
    size_t N = (size_t)1 << scale;
    uint32_t *parent = malloc (N * sizeof (uint32_t));
    uint8_t *seen = calloc (N, 1);
    if (!parent || !seen) {
        free (parent);
        free (seen);
        return 0;
    }
    for (size_t v = 0; v < N; v++)
        parent[v] = (uint32_t)v;
    for (size_t e = 0; e < m; e++) {
        uint32_t a = uf_find (parent, (uint32_t)src[e]);
        uint32_t b = uf_find (parent, (uint32_t)dst[e]);
        seen[src[e]] = seen[dst[e]] = 1;
        if (a < b)
            parent[b] = a;
        else if (b < a)
            parent[a] = b;
    }
    uint64_t k = 0;
    for (size_t v = 0; v < N; v++)
        k += seen[v] && parent[v] == v;
    free (parent);
    free (seen);
    return k;
}
