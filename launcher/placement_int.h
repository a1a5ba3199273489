/* SPDX-License-Identifier: MIT */
/* Internals shared by the placement files: the parsed policy and the result. */
#ifndef LOOM_LAUNCHER_PLACEMENT_INT_H
#define LOOM_LAUNCHER_PLACEMENT_INT_H

#include <hwloc.h>

#include <loom/launch.h>

/* Object levels a policy can name, from the finest to the coarsest. */
enum loom__level {
    LOOM__LVL_HWTHREAD = 0,
    LOOM__LVL_CORE,
    LOOM__LVL_L3,
    LOOM__LVL_NUMA,
    LOOM__LVL_PACKAGE,
    LOOM__LVL_NODE,
    LOOM__LVL_SLOT, /* map/rank by slot: in CPU order, no object */
    LOOM__LVL_NONE, /* bind-to none */
};

struct loom__policy {
    enum loom__level map; /* SLOT, HWTHREAD, CORE, L3, NUMA, PACKAGE or NODE */
    int ppr;              /* ranks per 'map' object when map-by ppr:N:OBJ, else 0 */
    int pe;               /* CPUs per rank */
    enum loom__level rank;
    enum loom__level bind;
    int hwthreads;
    int oversubscribe;
    char text[160]; /* the policy as understood, for --explain */
};

/* Parse params into 'pol'. Returns 0, or -1 with errno EINVAL and 'error' set. */
int loom__policy_parse (const struct loom_placement_params *params,
                        struct loom__policy *pol,
                        loom_error_t *error);

/* Name of a level as the options spell it ("numa"). */
const char *loom__level_name (enum loom__level lvl);

/* hwloc type of an object level ((hwloc_obj_type_t)-1 for SLOT/NODE/NONE). */
hwloc_obj_type_t loom__level_type (enum loom__level lvl);

struct loom__rank {
    int node;
    int local_rank;
    hwloc_bitmap_t cpus;
    hwloc_bitmap_t binding;
    char *why;
    char *map; /* the rendered binding map "[BB/..][....]" */
};

struct loom__node {
    char *name;
    int local; /* this host */
    hwloc_bitmap_t allowed;
    int ncpus;    /* CPUs (cores or PUs) in the allowed set */
    int capacity; /* ranks that fit without oversubscribing */
    int nranks;
};

struct loom_placement {
    int size;
    struct loom__rank *ranks;
    int nnodes;
    struct loom__node *nodes;
    int oversubscribed;
    struct loom__policy policy;
};

/* Render the bracket map of 'binding' on 'topo' ('allowed' marks usable PUs).
 * Returns a malloc'ed string or NULL (ENOMEM).
 */
char *loom__render_map (hwloc_topology_t topo,
                        hwloc_const_cpuset_t allowed,
                        hwloc_const_cpuset_t binding);

#endif
