/* SPDX-License-Identifier: MIT */
/* Serial reference graph algorithms (see ref.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

static int cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t ref_graph_find (const struct ref_graph *g, uint64_t id)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n && g->ids[lo] == id ? lo : (size_t)-1;
}

int ref_graph_build (struct ref_graph *g,
                     size_t m,
                     const uint64_t *src,
                     const uint64_t *dst,
                     const double *weight)
{
    memset (g, 0, sizeof (*g));
    uint64_t *all = malloc ((2 * m + 1) * sizeof (uint64_t));
    if (!all)
        return -1;
    for (size_t i = 0; i < m; i++) {
        all[2 * i] = src[i];
        all[2 * i + 1] = dst[i];
    }
    qsort (all, 2 * m, sizeof (uint64_t), cmp_u64);
    size_t n = 0;
    for (size_t i = 0; i < 2 * m; i++)
        if (n == 0 || all[n - 1] != all[i])
            all[n++] = all[i];
    g->n = n;
    g->m = m;
    g->ids = all;
    g->off = calloc (n + 1, sizeof (size_t));
    g->dst = malloc ((m + 1) * sizeof (size_t));
    g->weight = weight ? malloc ((m + 1) * sizeof (double)) : NULL;
    size_t *fill = calloc (n + 1, sizeof (size_t));
    if (!g->off || !g->dst || (weight && !g->weight) || !fill) {
        free (fill);
        ref_graph_free (g);
        return -1;
    }
    for (size_t i = 0; i < m; i++)
        g->off[ref_graph_find (g, src[i]) + 1]++;
    for (size_t v = 0; v < n; v++)
        g->off[v + 1] += g->off[v];
    /* Stable fill: a vertex's edges keep their input order. */
    for (size_t i = 0; i < m; i++) {
        size_t u = ref_graph_find (g, src[i]);
        size_t at = g->off[u] + fill[u]++;
        g->dst[at] = ref_graph_find (g, dst[i]);
        if (weight)
            g->weight[at] = weight[i];
    }
    free (fill);
    return 0;
}

void ref_graph_free (struct ref_graph *g)
{
    free (g->ids);
    free (g->off);
    free (g->dst);
    free (g->weight);
    memset (g, 0, sizeof (*g));
}

void ref_pagerank (const struct ref_graph *g, double d, int iters, double *out)
{
    size_t n = g->n;
    double *next = malloc (n * sizeof (double));
    for (size_t v = 0; v < n; v++)
        out[v] = 1.0 / (double)n;
    for (int it = 0; it < iters; it++) {
        double dangling = 0;
        for (size_t v = 0; v < n; v++) {
            next[v] = 0;
            if (g->off[v + 1] == g->off[v])
                dangling += out[v];
        }
        for (size_t u = 0; u < n; u++) {
            size_t deg = g->off[u + 1] - g->off[u];
            for (size_t e = g->off[u]; e < g->off[u + 1]; e++)
                next[g->dst[e]] += out[u] / (double)deg;
        }
        for (size_t v = 0; v < n; v++)
            out[v] = (1.0 - d) / (double)n + d * (next[v] + dangling / (double)n);
    }
    free (next);
}

static size_t uf_find (size_t *parent, size_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

void ref_cc (const struct ref_graph *g, uint64_t *out)
{
    size_t *parent = malloc ((g->n + 1) * sizeof (size_t));
    for (size_t v = 0; v < g->n; v++)
        parent[v] = v;
    for (size_t u = 0; u < g->n; u++)
        for (size_t e = g->off[u]; e < g->off[u + 1]; e++) {
            size_t a = uf_find (parent, u), b = uf_find (parent, g->dst[e]);
            /* Union towards the smaller index = the smaller id (ids are sorted). */
            if (a < b)
                parent[b] = a;
            else if (b < a)
                parent[a] = b;
        }
    for (size_t v = 0; v < g->n; v++)
        out[v] = g->ids[uf_find (parent, v)];
    free (parent);
}

/* Binary min-heap of (distance, vertex) with lazy deletion. */
struct heap_item {
    double d;
    size_t v;
};

static void heap_push (struct heap_item *h, size_t *len, struct heap_item it)
{
    size_t i = (*len)++;
    while (i > 0 && h[(i - 1) / 2].d > it.d) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = it;
}

static struct heap_item heap_pop (struct heap_item *h, size_t *len)
{
    struct heap_item top = h[0], last = h[--(*len)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *len)
            break;
        if (c + 1 < *len && h[c + 1].d < h[c].d)
            c++;
        if (h[c].d >= last.d)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*len > 0)
        h[i] = last;
    return top;
}

void ref_sssp (const struct ref_graph *g, size_t source, double *out)
{
    struct heap_item *h = malloc ((g->m + 2) * sizeof (*h));
    size_t len = 0;
    for (size_t v = 0; v < g->n; v++)
        out[v] = INFINITY;
    out[source] = 0;
    heap_push (h, &len, (struct heap_item){0, source});
    while (len > 0) {
        struct heap_item it = heap_pop (h, &len);
        if (it.d > out[it.v])
            continue;
        for (size_t e = g->off[it.v]; e < g->off[it.v + 1]; e++) {
            double nd = it.d + (g->weight ? g->weight[e] : 1.0);
            if (nd < out[g->dst[e]]) {
                out[g->dst[e]] = nd;
                heap_push (h, &len, (struct heap_item){nd, g->dst[e]});
            }
        }
    }
    free (h);
}

void ref_bfs (const struct ref_graph *g, size_t source, int64_t *out)
{
    size_t *queue = malloc ((g->n + 1) * sizeof (size_t));
    size_t head = 0, tail = 0;
    for (size_t v = 0; v < g->n; v++)
        out[v] = -1;
    out[source] = 0;
    queue[tail++] = source;
    while (head < tail) {
        size_t u = queue[head++];
        for (size_t e = g->off[u]; e < g->off[u + 1]; e++)
            if (out[g->dst[e]] < 0) {
                out[g->dst[e]] = out[u] + 1;
                queue[tail++] = g->dst[e];
            }
    }
    free (queue);
}
