/* SPDX-License-Identifier: MIT */
/* Reporting a placement: --report-bindings maps and --explain reasons. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement_int.h"

/* A growable string that stays failed after an allocation failure. */
struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_add (struct sbuf *b, const char *fmt, ...) LOOM_PRINTF (2, 3);
static void sb_add (struct sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc (b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start (ap, fmt);
    vsnprintf (b->s + b->len, b->cap - b->len, fmt, ap);
    va_end (ap);
    b->len += (size_t)n;
}

static char *sb_done (struct sbuf *b)
{
    if (b->failed || !b->s) {
        free (b->s);
        if (!b->failed && (b->s = strdup ("")))
            return b->s;
        errno = ENOMEM;
        return NULL;
    }
    return b->s;
}

/* Cores of 'within' as "BB/../" PU marks: B bound, '.' allowed but not bound, '-'
 * outside the allowed cpuset.
 */
static void render_cores (struct sbuf *b,
                          hwloc_topology_t topo,
                          hwloc_const_cpuset_t within,
                          hwloc_const_cpuset_t allowed,
                          hwloc_const_cpuset_t binding)
{
    hwloc_obj_t core = NULL;
    int first = 1;
    int ncores = hwloc_get_nbobjs_inside_cpuset_by_type (topo, within, HWLOC_OBJ_CORE);
    hwloc_obj_type_t type = ncores > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    while (
        (core = hwloc_get_next_obj_inside_cpuset_by_type (topo, within, type, core))) {
        if (!first)
            sb_add (b, "/");
        first = 0;
        unsigned pu;
        hwloc_bitmap_foreach_begin (pu, core->cpuset)
        {
            sb_add (b, "%c",
                    hwloc_bitmap_isset (binding, pu)   ? 'B'
                    : hwloc_bitmap_isset (allowed, pu) ? '.'
                                                       : '-');
        }
        hwloc_bitmap_foreach_end ();
    }
}

char *loom__render_map (hwloc_topology_t topo,
                        hwloc_const_cpuset_t allowed,
                        hwloc_const_cpuset_t binding)
{
    struct sbuf b = {0};
    hwloc_obj_t pkg = NULL;
    int npkg = 0;
    while ((pkg = hwloc_get_next_obj_by_type (topo, HWLOC_OBJ_PACKAGE, pkg))) {
        sb_add (&b, "[");
        render_cores (&b, topo, pkg->cpuset, allowed, binding);
        sb_add (&b, "]");
        npkg++;
    }
    if (npkg == 0) {
        sb_add (&b, "[");
        render_cores (&b, topo, hwloc_topology_get_topology_cpuset (topo), allowed,
                      binding);
        sb_add (&b, "]");
    }
    return sb_done (&b);
}

char *loom_placement_format_bindings (const loom_placement_t *p)
{
    struct sbuf b = {0};
    for (int r = 0; r < p->size; r++) {
        const struct loom__rank *rk = &p->ranks[r];
        char list[128];
        hwloc_bitmap_list_snprintf (list, sizeof (list), rk->binding);
        sb_add (&b, "rank %d on %s: PUs %s %s\n", r, p->nodes[rk->node].name, list,
                rk->map);
    }
    return sb_done (&b);
}

char *loom_placement_format_explain (const loom_placement_t *p)
{
    struct sbuf b = {0};
    const struct loom__policy *pol = &p->policy;
    const char *cpu = pol->hwthreads ? "hwthreads" : "cores";
    sb_add (&b, "placement of %d rank%s: %s\n", p->size, p->size == 1 ? "" : "s",
            pol->text);
    for (int n = 0; n < p->nnodes; n++) {
        const struct loom__node *nd = &p->nodes[n];
        char list[128];
        hwloc_bitmap_list_snprintf (list, sizeof (list), nd->allowed);
        sb_add (&b,
                "node %d %s: allowed PUs %s = %d %s, room for %d rank%s, %d placed\n",
                n, nd->name, list, nd->ncpus, cpu, nd->capacity,
                nd->capacity == 1 ? "" : "s", nd->nranks);
    }
    if (p->oversubscribed)
        sb_add (&b, "oversubscribed: more ranks than %s, some ranks share CPUs\n", cpu);
    for (int r = 0; r < p->size; r++)
        sb_add (&b, "rank %d: %s\n", r, p->ranks[r].why);
    return sb_done (&b);
}
