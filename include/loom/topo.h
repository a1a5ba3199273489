/* SPDX-License-Identifier: MIT */
/* Node topology: one hwloc topology, loaded from this machine, a synthetic description
 * or an XML file, summarised for people (text) and scripts (JSON).
 */
#ifndef LOOM_TOPO_H
#define LOOM_TOPO_H

#include <hwloc.h>
#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_topo loom_topo_t;

typedef enum {
    LOOM_TOPO_LOCAL = 0, /* this machine */
    LOOM_TOPO_SYNTHETIC =
        1,             /* hwloc synthetic string, e.g. "pack:2 numa:2 core:4 pu:2" */
    LOOM_TOPO_XML = 2, /* hwloc XML file (lstopo foo.xml) */
} loom_topo_source_t;

/* Load a topology. 'spec' is the synthetic string or XML path (ignored for LOCAL).
 * Disallowed PUs are kept in the topology so the allowed cpuset can be shown.
 * Returns a handle, or NULL with errno set (EINVAL: bad synthetic string or source;
 * ENOENT/EACCES: XML file; EPROTO: XML not parsable; ENOMEM).
 */
LOOM_API loom_topo_t *
loom_topo_load (loom_topo_source_t source, const char *spec, loom_error_t *error);

/* Free 'topo'. Accepts NULL, preserves errno. */
LOOM_API void loom_topo_destroy (loom_topo_t *topo);

/* The underlying hwloc topology, owned by 'topo', valid until loom_topo_destroy(). */
LOOM_API hwloc_topology_t loom_topo_hwloc (loom_topo_t *topo);

/* PUs tasks may use: hwloc's allowed set, narrowed by loom_topo_restrict(). Owned by
 * 'topo', valid until loom_topo_destroy(). This function can't fail.
 */
LOOM_API hwloc_const_cpuset_t loom_topo_allowed (loom_topo_t *topo);

/* Restrict the allowed cpuset to 'cpulist' (hwloc list syntax, "0-3,8"), as a cgroup
 * or a scheduler grant would. Returns 0, or -1 with errno EINVAL if the list does not
 * parse or names no PU of the topology.
 */
LOOM_API int
loom_topo_restrict (loom_topo_t *topo, const char *cpulist, loom_error_t *error);

/* Counts of what the topology holds (whole machine, allowed or not). */
struct loom_topo_counts {
    unsigned packages;
    unsigned numa_nodes;
    unsigned l3_caches;
    unsigned cores;
    unsigned pus;
    unsigned allowed_pus;
    unsigned allowed_cores; /* cores with at least one allowed PU */
};

/* Fill 'counts'. This function can't fail. */
LOOM_API void loom_topo_counts (loom_topo_t *topo, struct loom_topo_counts *counts);

/* Human-readable summary: counts, allowed cpuset, then packages with their NUMA nodes
 * and L3 caches and the cores and PUs under each. Returns a string the caller frees
 * with free(3), or NULL with errno ENOMEM.
 */
LOOM_API char *loom_topo_format_text (loom_topo_t *topo);

/* The same as JSON (one object, keys documented in docs/topo.md). Caller frees with
 * free(3); NULL with errno ENOMEM.
 */
LOOM_API char *loom_topo_format_json (loom_topo_t *topo);

#ifdef __cplusplus
}
#endif
#endif
