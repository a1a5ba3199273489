/* SPDX-License-Identifier: MIT */
/* The placement engine: which node and which CPUs each rank gets, and why.
 *
 * A "CPU" is a core (its allowed PUs), or a PU with hwthreads. Every node's allowed
 * CPUs are listed in logical order with the objects (L3, NUMA, package) that contain
 * them. Mapping walks those lists as mpirun does; each rank takes its 'pe' least-used
 * CPUs inside the object it maps to, so without oversubscription no CPU is shared and
 * with it the load stays even. Ranking then reorders the mapped slots, and binding
 * widens each rank's CPUs to the --bind-to object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/trace.h>

#include "placement_int.h"

#define NLEVELS ((int)LOOM__LVL_NODE) /* hwthread .. package have object indexes */

struct unit {
    hwloc_bitmap_t pus; /* allowed PUs of this CPU */
    int obj[NLEVELS];   /* logical index of the containing object per level, or -1 */
    int used;           /* ranks given this CPU so far */
};

struct nodectx {
    const struct loom_node *in;
    hwloc_topology_t topo;
    hwloc_bitmap_t allowed;
    struct unit *units;
    int nunits;
    int cap;
    int placed;
    int cursor; /* round-robin position over the map objects */
};

/* A mapped slot before ranking. */
struct slot {
    int node;
    int *units; /* pe unit indexes */
    int obj;    /* index of the map object, or -1 */
    char why[256];
};

struct ctx {
    const struct loom__policy *pol;
    struct nodectx *nodes;
    size_t nnodes;
    struct slot *slots;
    int nslots;
    loom_error_t *error;
};

static const char *node_label (const struct nodectx *n)
{
    return n->in->name ? n->in->name : "localhost";
}

static int is_local_name (const char *name)
{
    char host[256] = "";
    if (!name || strcmp (name, "localhost") == 0)
        return 1;
    gethostname (host, sizeof (host) - 1);
    return strcmp (name, host) == 0;
}

/* Index of the object of 'type' containing PU 'pu', or -1. */
static int containing (hwloc_topology_t topo, hwloc_obj_type_t type, unsigned pu)
{
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type (topo, type, o)))
        if (o->cpuset && hwloc_bitmap_isset (o->cpuset, pu))
            return (int)o->logical_index;
    return -1;
}

static int node_setup (struct ctx *c, struct nodectx *n, loom_error_t *error)
{
    n->topo = loom_topo_hwloc (n->in->topo);
    n->allowed = hwloc_bitmap_dup (loom_topo_allowed (n->in->topo));
    if (!n->allowed)
        return loom_errset (error, ENOMEM, "out of memory");
    if (n->in->cpuset) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc ();
        if (!set)
            return loom_errset (error, ENOMEM, "out of memory");
        if (hwloc_bitmap_list_sscanf (set, n->in->cpuset) < 0
            || hwloc_bitmap_iszero (set)) {
            hwloc_bitmap_free (set);
            return loom_errset (
                error, EINVAL,
                "bad cpuset '%s' for node %s (expected a list like 0-3,8)",
                n->in->cpuset, node_label (n));
        }
        hwloc_bitmap_and (n->allowed, n->allowed, set);
        hwloc_bitmap_free (set);
    }
    if (hwloc_bitmap_iszero (n->allowed))
        return loom_errset (error, EINVAL, "node %s: the cpuset %s leaves no usable PU",
                            node_label (n), n->in->cpuset ? n->in->cpuset : "given");

    hwloc_obj_type_t cpu_type = c->pol->hwthreads ? HWLOC_OBJ_PU : HWLOC_OBJ_CORE;
    if (hwloc_get_nbobjs_by_type (n->topo, cpu_type) <= 0)
        cpu_type = HWLOC_OBJ_PU;
    int max = hwloc_get_nbobjs_by_type (n->topo, cpu_type);
    n->units = calloc ((size_t)max, sizeof (*n->units));
    if (!n->units)
        return loom_errset (error, ENOMEM, "out of memory");
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type (n->topo, cpu_type, o))) {
        if (!hwloc_bitmap_intersects (o->cpuset, n->allowed))
            continue;
        struct unit *u = &n->units[n->nunits];
        if (!(u->pus = hwloc_bitmap_alloc ()))
            return loom_errset (error, ENOMEM, "out of memory");
        n->nunits++;
        hwloc_bitmap_and (u->pus, o->cpuset, n->allowed);
        unsigned first = (unsigned)hwloc_bitmap_first (u->pus);
        for (int l = 0; l < NLEVELS; l++)
            u->obj[l] =
                containing (n->topo, loom__level_type ((enum loom__level)l), first);
    }
    return 0;
}

/* Does the node's topology have objects for 'lvl' (for levels naming an object)? */
static int require_level (struct nodectx *n,
                          enum loom__level lvl,
                          const char *what,
                          loom_error_t *error)
{
    if ((int)lvl >= NLEVELS)
        return 0;
    for (int i = 0; i < n->nunits; i++)
        if (n->units[i].obj[lvl] < 0)
            return loom_errset (
                error, EINVAL, "%s %s: the topology of node %s has no %s object", what,
                loom__level_name (lvl), node_label (n), loom__level_name (lvl));
    return 0;
}

/* Units per object at 'lvl' on node n: fills counts[obj index], returns the number of
 * object indexes (max index + 1).
 */
static int
per_object (const struct nodectx *n, enum loom__level lvl, int *counts, int max)
{
    int nobj = 0;
    memset (counts, 0, sizeof (int) * (size_t)max);
    for (int i = 0; i < n->nunits; i++) {
        int o = n->units[i].obj[lvl];
        if (o >= 0 && o < max) {
            counts[o]++;
            if (o + 1 > nobj)
                nobj = o + 1;
        }
    }
    return nobj;
}

static int max_objects (const struct nodectx *n, enum loom__level lvl)
{
    int m = hwloc_get_nbobjs_by_type (n->topo, loom__level_type (lvl));
    return m > 0 ? m : 1;
}

/* Capacity of node n: ranks that fit without sharing a CPU. */
static int node_capacity (struct ctx *c, struct nodectx *n)
{
    const struct loom__policy *pol = c->pol;
    int cap;
    enum loom__level lvl = pol->map;
    if (pol->ppr) {
        if (lvl == LOOM__LVL_NODE)
            return pol->ppr;
        int max = max_objects (n, lvl), *counts = calloc ((size_t)max, sizeof (int));
        if (!counts)
            return loom_errset (c->error, ENOMEM, "out of memory");
        int nobj = per_object (n, lvl, counts, max), objs = 0;
        for (int o = 0; o < nobj; o++)
            objs += counts[o] > 0;
        cap = pol->ppr * objs;
        free (counts);
        return cap;
    }
    if (lvl == LOOM__LVL_L3 || lvl == LOOM__LVL_NUMA || lvl == LOOM__LVL_PACKAGE) {
        int max = max_objects (n, lvl), *counts = calloc ((size_t)max, sizeof (int));
        if (!counts)
            return loom_errset (c->error, ENOMEM, "out of memory");
        int nobj = per_object (n, lvl, counts, max), biggest = 0;
        cap = 0;
        for (int o = 0; o < nobj; o++) {
            cap += counts[o] / pol->pe;
            if (counts[o] > biggest)
                biggest = counts[o];
        }
        free (counts);
        if (biggest < pol->pe)
            return loom_errset (c->error, EINVAL,
                                "pe=%d is larger than every %s of node %s (the largest "
                                "has %d allowed %s); use pe<=%d or map by a larger "
                                "object",
                                pol->pe, loom__level_name (lvl), node_label (n),
                                biggest, pol->hwthreads ? "PUs" : "cores", biggest);
    } else {
        cap = n->nunits / pol->pe;
        if (cap == 0 && !pol->oversubscribe)
            return loom_errset (
                c->error, EINVAL, "pe=%d is larger than node %s (it has %d allowed %s)",
                pol->pe, node_label (n), n->nunits, pol->hwthreads ? "PUs" : "cores");
    }
    if (n->in->slots > 0 && (unsigned)cap > n->in->slots)
        cap = (int)n->in->slots;
    return cap;
}

/* Take pe units for a new slot on node n, inside object 'obj' of level 'lvl' (obj < 0:
 * anywhere on the node), least-used first, then in logical order. Returns 0, or -1 if
 * the object has fewer than pe units.
 */
static int take (struct ctx *c, int node, enum loom__level lvl, int obj, struct slot *s)
{
    struct nodectx *n = &c->nodes[node];
    int pe = c->pol->pe, got = 0;
    s->node = node;
    s->obj = obj;
    if (!(s->units = malloc (sizeof (int) * (size_t)pe)))
        return loom_errset (c->error, ENOMEM, "out of memory");
    int minuse = 0;
    /* Rounds of increasing usage: first the free units, then the once-shared, ... */
    for (int round = 0; got < pe && round <= c->nslots + 1; round++) {
        for (int i = 0; i < n->nunits && got < pe; i++) {
            struct unit *u = &n->units[i];
            if (u->used != minuse || (obj >= 0 && u->obj[lvl] != obj))
                continue;
            int dup = 0;
            for (int k = 0; k < got; k++)
                dup |= s->units[k] == i;
            if (!dup)
                s->units[got++] = i;
        }
        minuse++;
    }
    if (got < pe) {
        free (s->units);
        s->units = NULL;
        return -1;
    }
    for (int k = 0; k < pe; k++)
        n->units[s->units[k]].used++;
    n->placed++;
    return 0;
}

/* Logical indexes of a slot's units at level 'lvl', as "core 3" / "cores 2-3". */
static void describe_units (struct ctx *c, const struct slot *s, char *buf, size_t len)
{
    struct nodectx *n = &c->nodes[s->node];
    hwloc_bitmap_t ids = hwloc_bitmap_alloc ();
    enum loom__level lvl = c->pol->hwthreads ? LOOM__LVL_HWTHREAD : LOOM__LVL_CORE;
    for (int k = 0; k < c->pol->pe; k++)
        hwloc_bitmap_set (ids, (unsigned)n->units[s->units[k]].obj[lvl]);
    char list[48];
    hwloc_bitmap_list_snprintf (list, sizeof (list), ids);
    snprintf (buf, len, "%s%s %s", lvl == LOOM__LVL_CORE ? "core" : "hwthread",
              c->pol->pe > 1 ? "s" : "", list);
    hwloc_bitmap_free (ids);
}

static struct slot *new_slot (struct ctx *c)
{
    return &c->slots[c->nslots];
}

static void slot_why (struct ctx *c, struct slot *s, const char *fmt, ...)
    LOOM_PRINTF (3, 4);
static void slot_why (struct ctx *c, struct slot *s, const char *fmt, ...)
{
    char units[80], head[160];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (head, sizeof (head), fmt, ap);
    va_end (ap);
    describe_units (c, s, units, sizeof (units));
    int shared = 0;
    for (int k = 0; k < c->pol->pe; k++)
        shared |= c->nodes[s->node].units[s->units[k]].used > 1;
    /* A reason longer than the buffer is cut; it stays one readable line. */
    if (snprintf (s->why, sizeof (s->why), "%s -> %s%s", head, units,
                  shared ? " (shared: oversubscribed)" : "")
        >= (int)sizeof (s->why))
        s->why[sizeof (s->why) - 1] = '\0';
}

/* Map one slot on node 'node' following the map policy (not ppr). */
static int map_one (struct ctx *c, int node)
{
    struct nodectx *n = &c->nodes[node];
    const struct loom__policy *pol = c->pol;
    struct slot *s = new_slot (c);
    enum loom__level lvl = pol->map;
    if (lvl == LOOM__LVL_L3 || lvl == LOOM__LVL_NUMA || lvl == LOOM__LVL_PACKAGE) {
        int max = max_objects (n, lvl);
        /* Next object, round-robin from the cursor, with pe free units; when every
         * object is full (oversubscribing), the next one with pe units at all.
         */
        for (int pass = 0; pass < 2; pass++) {
            for (int step = 0; step < max; step++) {
                int o = (n->cursor + step) % max, free_units = 0, all = 0;
                for (int i = 0; i < n->nunits; i++) {
                    if (n->units[i].obj[lvl] != o)
                        continue;
                    all++;
                    free_units += n->units[i].used == 0;
                }
                if ((pass == 0 ? free_units : all) < pol->pe)
                    continue;
                if (take (c, node, lvl, o, s) < 0)
                    continue;
                n->cursor = o + 1;
                slot_why (c, s, "map-by %s: %s %d of node %s (round-robin)",
                          loom__level_name (lvl), loom__level_name (lvl), o,
                          node_label (n));
                c->nslots++;
                return 0;
            }
        }
        return loom_errset (c->error, EINVAL, "no %s of node %s holds %d CPUs",
                            loom__level_name (lvl), node_label (n), pol->pe);
    }
    if (take (c, node, LOOM__LVL_NODE, -1, s) < 0)
        return loom_errset (c->error, EINVAL, "node %s has fewer than %d CPUs",
                            node_label (n), pol->pe);
    if (lvl == LOOM__LVL_NODE)
        slot_why (c, s, "map-by node: node %s (round-robin over %zu nodes)",
                  node_label (n), c->nnodes);
    else
        slot_why (c, s, "map-by %s: next free CPU%s of node %s", loom__level_name (lvl),
                  pol->pe > 1 ? "s" : "", node_label (n));
    c->nslots++;
    return 0;
}

static int map_ppr (struct ctx *c, int want)
{
    const struct loom__policy *pol = c->pol;
    enum loom__level lvl = pol->map;
    for (size_t ni = 0; ni < c->nnodes && c->nslots < want; ni++) {
        struct nodectx *n = &c->nodes[ni];
        int max = lvl == LOOM__LVL_NODE ? 1 : max_objects (n, lvl);
        for (int o = 0; o < max && c->nslots < want; o++) {
            int all = 0;
            for (int i = 0; i < n->nunits; i++)
                all += lvl == LOOM__LVL_NODE || n->units[i].obj[lvl] == o;
            if (all == 0)
                continue; /* no allowed CPU in this object: not offered */
            if (all < pol->ppr * pol->pe && !pol->oversubscribe)
                return loom_errset (
                    c->error, EINVAL,
                    "ppr:%d:%s with pe=%d needs %d %s per %s, but %s %d "
                    "of node %s has %d allowed; use ppr:%d or "
                    "--oversubscribe",
                    pol->ppr, loom__level_name (lvl), pol->pe, pol->ppr * pol->pe,
                    pol->hwthreads ? "PUs" : "cores", loom__level_name (lvl),
                    loom__level_name (lvl), o, node_label (n), all, all / pol->pe);
            if (all < pol->pe)
                return loom_errset (c->error, EINVAL,
                                    "pe=%d is larger than %s %d of node %s (%d allowed "
                                    "CPUs)",
                                    pol->pe, loom__level_name (lvl), o, node_label (n),
                                    all);
            for (int k = 0; k < pol->ppr && c->nslots < want; k++) {
                struct slot *s = new_slot (c);
                if (take (c, (int)ni, lvl == LOOM__LVL_NODE ? LOOM__LVL_NODE : lvl,
                          lvl == LOOM__LVL_NODE ? -1 : o, s)
                    < 0)
                    return loom_errset (c->error, EINVAL, "%s %d of node %s is full",
                                        loom__level_name (lvl), o, node_label (n));
                slot_why (c, s, "ppr:%d:%s: #%d of %s %d of node %s", pol->ppr,
                          loom__level_name (lvl), k + 1, loom__level_name (lvl), o,
                          node_label (n));
                c->nslots++;
            }
        }
    }
    return 0;
}

static int map_all (struct ctx *c, int want)
{
    const struct loom__policy *pol = c->pol;
    if (pol->ppr)
        return map_ppr (c, want);
    if (pol->map == LOOM__LVL_NODE) {
        /* Round-robin over nodes, skipping full ones until all are full. */
        while (c->nslots < want) {
            int progressed = 0;
            for (size_t ni = 0; ni < c->nnodes && c->nslots < want; ni++) {
                if (c->nodes[ni].placed >= c->nodes[ni].cap)
                    continue;
                if (map_one (c, (int)ni) < 0)
                    return -1;
                progressed = 1;
            }
            if (!progressed)
                break;
        }
    } else {
        for (size_t ni = 0; ni < c->nnodes && c->nslots < want; ni++)
            while (c->nodes[ni].placed < c->nodes[ni].cap && c->nslots < want)
                if (map_one (c, (int)ni) < 0)
                    return -1;
    }
    /* Oversubscription: the remaining ranks go round-robin over the nodes, each on
     * the least-used CPUs.
     */
    while (c->nslots < want)
        for (size_t ni = 0; ni < c->nnodes && c->nslots < want; ni++)
            if (map_one (c, (int)ni) < 0)
                return -1;
    return 0;
}

/* Order the slots by --rank-by: 'order' receives slot indexes in rank order. */
static void rank_order (struct ctx *c, int *order)
{
    enum loom__level lvl = c->pol->rank;
    int n = c->nslots, k = 0;
    if (lvl == LOOM__LVL_SLOT) {
        for (int i = 0; i < n; i++)
            order[i] = i;
        return;
    }
    char *taken = calloc ((size_t)n, 1);
    if (!taken) { /* keep mapping order rather than fail on a tiny allocation */
        for (int i = 0; i < n; i++)
            order[i] = i;
        return;
    }
    /* Round-robin over groups: nodes for rank-by node, else objects within each node
     * (nodes stay in order). A group is visited in mapping order.
     */
    if (lvl == LOOM__LVL_NODE) {
        while (k < n)
            for (size_t ni = 0; ni < c->nnodes; ni++)
                for (int i = 0; i < n; i++)
                    if (!taken[i] && c->slots[i].node == (int)ni) {
                        taken[i] = 1;
                        order[k++] = i;
                        break;
                    }
    } else {
        for (size_t ni = 0; ni < c->nnodes; ni++) {
            struct nodectx *nd = &c->nodes[ni];
            int max = max_objects (nd, lvl), left = 0;
            for (int i = 0; i < n; i++)
                left += c->slots[i].node == (int)ni;
            while (left > 0) {
                for (int o = 0; o < max; o++) {
                    for (int i = 0; i < n; i++) {
                        const struct slot *s = &c->slots[i];
                        if (taken[i] || s->node != (int)ni
                            || nd->units[s->units[0]].obj[lvl] != o)
                            continue;
                        taken[i] = 1;
                        order[k++] = i;
                        left--;
                        break;
                    }
                }
            }
        }
    }
    free (taken);
}

/* The PUs rank slot 's' is bound to, per --bind-to. */
static int bind_slot (struct ctx *c, const struct slot *s, hwloc_bitmap_t out)
{
    const struct nodectx *n = &c->nodes[s->node];
    enum loom__level lvl = c->pol->bind;
    hwloc_bitmap_zero (out);
    if (lvl == LOOM__LVL_NONE) {
        hwloc_bitmap_copy (out, n->allowed);
        return 0;
    }
    for (int k = 0; k < c->pol->pe; k++) {
        const struct unit *u = &n->units[s->units[k]];
        if (lvl == LOOM__LVL_HWTHREAD) {
            /* Cores as CPUs: the first PU of each; PUs as CPUs: the PU itself. */
            hwloc_bitmap_set (out, (unsigned)hwloc_bitmap_first (u->pus));
            continue;
        }
        hwloc_obj_t o = hwloc_get_obj_by_type (n->topo, loom__level_type (lvl),
                                               (unsigned)u->obj[lvl]);
        if (!o)
            return -1;
        hwloc_bitmap_or (out, out, o->cpuset);
    }
    hwloc_bitmap_and (out, out, n->allowed);
    return 0;
}

void loom_placement_destroy (loom_placement_t *p)
{
    if (!p)
        return;
    int saved = errno;
    for (int i = 0; i < p->size && p->ranks; i++) {
        hwloc_bitmap_free (p->ranks[i].cpus);
        hwloc_bitmap_free (p->ranks[i].binding);
        free (p->ranks[i].why);
        free (p->ranks[i].map);
    }
    for (int i = 0; i < p->nnodes && p->nodes; i++) {
        free (p->nodes[i].name);
        hwloc_bitmap_free (p->nodes[i].allowed);
    }
    free (p->ranks);
    free (p->nodes);
    free (p);
    errno = saved;
}

static void ctx_free (struct ctx *c)
{
    for (int i = 0; i < c->nslots + 1 && c->slots; i++)
        free (c->slots[i].units);
    free (c->slots);
    for (size_t i = 0; i < c->nnodes && c->nodes; i++) {
        for (int u = 0; u < c->nodes[i].nunits; u++)
            hwloc_bitmap_free (c->nodes[i].units[u].pus);
        free (c->nodes[i].units);
        hwloc_bitmap_free (c->nodes[i].allowed);
    }
    free (c->nodes);
}

/* Fill the result from the mapped slots. */
static int build_result (struct ctx *c, loom_placement_t *p)
{
    int *order = calloc ((size_t)c->nslots, sizeof (int));
    if (!order)
        return loom_errset (c->error, ENOMEM, "out of memory");
    rank_order (c, order);
    p->size = c->nslots;
    p->ranks = calloc ((size_t)c->nslots, sizeof (*p->ranks));
    p->nnodes = (int)c->nnodes;
    p->nodes = calloc (c->nnodes, sizeof (*p->nodes));
    if (!p->ranks || !p->nodes)
        goto nomem;
    for (size_t ni = 0; ni < c->nnodes; ni++) {
        struct loom__node *pn = &p->nodes[ni];
        struct nodectx *n = &c->nodes[ni];
        pn->name = strdup (node_label (n));
        pn->local = is_local_name (n->in->name);
        pn->allowed = hwloc_bitmap_dup (n->allowed);
        pn->ncpus = n->nunits;
        pn->capacity = n->cap;
        if (!pn->name || !pn->allowed)
            goto nomem;
        for (int u = 0; u < n->nunits; u++)
            p->oversubscribed |= n->units[u].used > 1;
    }
    for (int r = 0; r < c->nslots; r++) {
        const struct slot *s = &c->slots[order[r]];
        struct loom__rank *pr = &p->ranks[r];
        struct nodectx *n = &c->nodes[s->node];
        pr->node = s->node;
        pr->local_rank = p->nodes[s->node].nranks++;
        pr->cpus = hwloc_bitmap_alloc ();
        pr->binding = hwloc_bitmap_alloc ();
        if (!pr->cpus || !pr->binding)
            goto nomem;
        for (int k = 0; k < c->pol->pe; k++)
            hwloc_bitmap_or (pr->cpus, pr->cpus, n->units[s->units[k]].pus);
        if (bind_slot (c, s, pr->binding) < 0) {
            free (order);
            return loom_errset (c->error, EINVAL, "node %s: cannot bind to %s",
                                node_label (n), loom__level_name (c->pol->bind));
        }
        char bind[64];
        hwloc_bitmap_list_snprintf (bind, sizeof (bind), pr->binding);
        const char *bl = loom__level_name (c->pol->bind);
        if (asprintf (&pr->why, "%s; bind-to %s -> PUs %s", s->why, bl, bind) < 0) {
            pr->why = NULL;
            goto nomem;
        }
        if (!(pr->map = loom__render_map (n->topo, n->allowed, pr->binding)))
            goto nomem;
    }
    free (order);
    return 0;
nomem:
    free (order);
    return loom_errset (c->error, ENOMEM, "out of memory");
}

LOOM_TRACE_TYPE (t_place, "launch", "placement", "ranks", "nodes", "oversubscribed");

static loom_placement_t *compute (const struct loom_node *nodes,
                                  size_t nnodes,
                                  const struct loom_placement_params *params,
                                  loom_error_t *error);

loom_placement_t *loom_placement_compute (const struct loom_node *nodes,
                                          size_t nnodes,
                                          const struct loom_placement_params *params,
                                          loom_error_t *error)
{
    loom_trace_span_t span = loom_trace_begin (&t_place, 0, nnodes, 0);
    loom_placement_t *p = compute (nodes, nnodes, params, error);
    loom_trace_end (span, p ? p->size : 0, nnodes, p ? p->oversubscribed : 0);
    return p;
}

static loom_placement_t *compute (const struct loom_node *nodes,
                                  size_t nnodes,
                                  const struct loom_placement_params *params,
                                  loom_error_t *error)
{
    struct ctx c = {.nnodes = nnodes, .error = error};
    struct loom__policy pol;
    loom_placement_t *p = NULL;

    if (!nodes || nnodes == 0 || !params) {
        loom_errset (error, EINVAL, "placement needs at least one node");
        return NULL;
    }
    for (size_t i = 0; i < nnodes; i++)
        if (!nodes[i].topo) {
            loom_errset (error, EINVAL, "node %zu has no topology", i);
            return NULL;
        }
    if (loom__policy_parse (params, &pol, error) < 0)
        return NULL;
    c.pol = &pol;
    if (!(c.nodes = calloc (nnodes, sizeof (*c.nodes))))
        goto nomem;
    int total = 0, cpus = 0;
    for (size_t i = 0; i < nnodes; i++) {
        struct nodectx *n = &c.nodes[i];
        n->in = &nodes[i];
        if (node_setup (&c, n, error) < 0)
            goto error;
        if (require_level (n, pol.map, "--map-by", error) < 0
            || require_level (n, pol.rank, "--rank-by", error) < 0
            || require_level (n, pol.bind, "--bind-to", error) < 0)
            goto error;
        if ((n->cap = node_capacity (&c, n)) < 0)
            goto error;
        total += n->cap;
        cpus += n->nunits;
    }
    int want = params->nprocs > 0 ? params->nprocs : total;
    if (want == 0) {
        loom_errset (error, EINVAL, "no rank fits: %d allowed CPUs, %d per rank", cpus,
                     pol.pe);
        goto error;
    }
    if (want > total && (!pol.oversubscribe || pol.ppr)) {
        const char *cpu = pol.hwthreads ? "hwthreads" : "cores";
        if (pol.ppr)
            loom_errset (error, EINVAL,
                         "%d ranks requested but ppr:%d:%s gives %d on %zu node%s; ask "
                         "for at most %d ranks",
                         want, pol.ppr, loom__level_name (pol.map), total, nnodes,
                         nnodes > 1 ? "s" : "", total);
        else
            loom_errset (
                error, EINVAL,
                "%d ranks need %lld %s (%d per rank) but %d are allowed on %zu "
                "node%s, room for %d ranks; ask for at most %d ranks, fewer "
                "CPUs per rank, or --oversubscribe",
                want, (long long)want * pol.pe, cpu, pol.pe, cpus, nnodes,
                nnodes > 1 ? "s" : "", total, total);
        goto error;
    }
    if (!(c.slots = calloc ((size_t)want + 1, sizeof (*c.slots))))
        goto nomem;
    if (map_all (&c, want) < 0)
        goto error;
    if (!(p = calloc (1, sizeof (*p))))
        goto nomem;
    p->policy = pol;
    if (build_result (&c, p) < 0)
        goto error;
    ctx_free (&c);
    return p;
nomem:
    loom_errset (error, ENOMEM, "out of memory");
error:
    ctx_free (&c);
    loom_placement_destroy (p);
    return NULL;
}

int loom_placement_size (const loom_placement_t *p)
{
    return p->size;
}

int loom_placement_nnodes (const loom_placement_t *p)
{
    return p->nnodes;
}

int loom_placement_oversubscribed (const loom_placement_t *p)
{
    return p->oversubscribed;
}

int loom_placement_rank (const loom_placement_t *p,
                         int rank,
                         struct loom_rank_place *out)
{
    if (!p || !out || rank < 0 || rank >= p->size) {
        errno = EINVAL;
        return -1;
    }
    const struct loom__rank *r = &p->ranks[rank];
    out->rank = rank;
    out->node = r->node;
    out->node_name = p->nodes[r->node].name;
    out->local_rank = r->local_rank;
    out->cpus = r->cpus;
    out->binding = r->binding;
    out->why = r->why;
    return 0;
}
