/* SPDX-License-Identifier: MIT */
/* Parsing mpirun's placement vocabulary: --map-by, --rank-by, --bind-to. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <loom/error.h>

#include "placement_int.h"

static const struct {
    const char *name;
    enum loom__level lvl;
} level_names[] = {
    {"hwthread", LOOM__LVL_HWTHREAD}, {"core", LOOM__LVL_CORE},
    {"l3cache", LOOM__LVL_L3},        {"l3", LOOM__LVL_L3},
    {"numa", LOOM__LVL_NUMA},         {"package", LOOM__LVL_PACKAGE},
    {"socket", LOOM__LVL_PACKAGE},    {"node", LOOM__LVL_NODE},
    {"slot", LOOM__LVL_SLOT},         {"none", LOOM__LVL_NONE},
};

const char *loom__level_name (enum loom__level lvl)
{
    static const char *names[] = {"hwthread", "core", "l3cache", "numa",
                                  "package",  "node", "slot",    "none"};
    return lvl <= LOOM__LVL_NONE ? names[lvl] : "?";
}

hwloc_obj_type_t loom__level_type (enum loom__level lvl)
{
    switch (lvl) {
    case LOOM__LVL_HWTHREAD:
        return HWLOC_OBJ_PU;
    case LOOM__LVL_CORE:
        return HWLOC_OBJ_CORE;
    case LOOM__LVL_L3:
        return HWLOC_OBJ_L3CACHE;
    case LOOM__LVL_NUMA:
        return HWLOC_OBJ_NUMANODE;
    case LOOM__LVL_PACKAGE:
        return HWLOC_OBJ_PACKAGE;
    default:
        return (hwloc_obj_type_t)-1;
    }
}

/* Look up 'len' bytes of 's' as a level name allowed by 'mask' (bits of levels). */
static int
level_lookup (const char *s, size_t len, unsigned mask, enum loom__level *lvl)
{
    for (size_t i = 0; i < sizeof (level_names) / sizeof (level_names[0]); i++) {
        if (strlen (level_names[i].name) == len
            && strncasecmp (s, level_names[i].name, len) == 0
            && (mask & (1u << level_names[i].lvl))) {
            *lvl = level_names[i].lvl;
            return 0;
        }
    }
    return -1;
}

#define BIT(l) (1u << (l))
#define MAP_LEVELS                                                                     \
    (BIT (LOOM__LVL_SLOT) | BIT (LOOM__LVL_HWTHREAD) | BIT (LOOM__LVL_CORE)            \
     | BIT (LOOM__LVL_L3) | BIT (LOOM__LVL_NUMA) | BIT (LOOM__LVL_PACKAGE)             \
     | BIT (LOOM__LVL_NODE))
#define PPR_LEVELS  (MAP_LEVELS & ~BIT (LOOM__LVL_SLOT))
#define RANK_LEVELS MAP_LEVELS
#define BIND_LEVELS                                                                    \
    (BIT (LOOM__LVL_NONE) | BIT (LOOM__LVL_HWTHREAD) | BIT (LOOM__LVL_CORE)            \
     | BIT (LOOM__LVL_L3) | BIT (LOOM__LVL_NUMA) | BIT (LOOM__LVL_PACKAGE))

/* Counts beyond this (ranks per object, CPUs per rank) are typing errors, and keep
 * products of counts far from overflowing an int.
 */
#define MAX_COUNT 65536

/* A decimal integer in [1, MAX_COUNT] of exactly 'len' bytes, or -1. */
static int parse_count (const char *s, size_t len)
{
    if (len == 0 || len > 6)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit ((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v > 0 && v <= MAX_COUNT ? v : -1;
}

/* --map-by: OBJ[:MOD...] or ppr:N:OBJ[:MOD...], MOD being pe=K, oversubscribe or
 * nooversubscribe (mpirun's modifiers that matter for placement).
 */
static int parse_map (const char *spec, struct loom__policy *pol, loom_error_t *error)
{
    const char *p = spec, *colon = strchr (p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen (p);
    if (len == 3 && strncasecmp (p, "ppr", 3) == 0) {
        if (!colon)
            goto bad_ppr;
        p = colon + 1;
        colon = strchr (p, ':');
        if (!colon || (pol->ppr = parse_count (p, (size_t)(colon - p))) < 0)
            goto bad_ppr;
        p = colon + 1;
        colon = strchr (p, ':');
        len = colon ? (size_t)(colon - p) : strlen (p);
        if (level_lookup (p, len, PPR_LEVELS, &pol->map) < 0)
            goto bad_ppr;
    } else if (level_lookup (p, len, MAP_LEVELS, &pol->map) < 0) {
        return loom_errset (error, EINVAL,
                            "unknown --map-by policy '%.*s' (expected slot, hwthread, "
                            "core, l3cache, numa, package, node or ppr:N:OBJ)",
                            (int)len, p);
    }
    while (colon) {
        p = colon + 1;
        colon = strchr (p, ':');
        len = colon ? (size_t)(colon - p) : strlen (p);
        if (len > 3 && strncasecmp (p, "pe=", 3) == 0) {
            if ((pol->pe = parse_count (p + 3, len - 3)) < 0)
                return loom_errset (error, EINVAL,
                                    "bad --map-by modifier '%.*s' in '%s' (pe= needs a "
                                    "positive number of CPUs per rank)",
                                    (int)len, p, spec);
        } else if (len == 13 && strncasecmp (p, "oversubscribe", 13) == 0) {
            pol->oversubscribe = 1;
        } else if (len == 15 && strncasecmp (p, "nooversubscribe", 15) == 0) {
            pol->oversubscribe = 0;
        } else {
            return loom_errset (error, EINVAL,
                                "unknown --map-by modifier '%.*s' in '%s' (expected "
                                "pe=K, oversubscribe or nooversubscribe)",
                                (int)len, p, spec);
        }
    }
    return 0;
bad_ppr:
    return loom_errset (
        error, EINVAL,
        "bad ppr syntax '%s' (expected ppr:N:OBJ[:pe=K] with 0 < N <= 65536 and "
        "OBJ one of hwthread, core, l3cache, numa, package, node)",
        spec);
}

int loom__policy_parse (const struct loom_placement_params *params,
                        struct loom__policy *pol,
                        loom_error_t *error)
{
    memset (pol, 0, sizeof (*pol));
    pol->map = LOOM__LVL_CORE;
    pol->rank = LOOM__LVL_SLOT;
    pol->oversubscribe = params->oversubscribe != 0;
    pol->hwthreads = params->hwthreads != 0;
    if (params->nprocs < 0)
        return loom_errset (error, EINVAL, "number of ranks must be positive, not %d",
                            params->nprocs);
    if (params->cpus_per_rank < 0 || params->cpus_per_rank > MAX_COUNT)
        return loom_errset (error, EINVAL,
                            "--cpus-per-rank must be a number from 1 to %d, not %d",
                            MAX_COUNT, params->cpus_per_rank);
    if (params->map_by && parse_map (params->map_by, pol, error) < 0)
        return -1;
    if (pol->map == LOOM__LVL_HWTHREAD)
        pol->hwthreads = 1; /* as mpirun: mapping by hwthread counts PUs as CPUs */
    if (params->cpus_per_rank > 0) {
        if (pol->pe > 0 && pol->pe != params->cpus_per_rank)
            return loom_errset (error, EINVAL,
                                "--cpus-per-rank %d contradicts pe=%d of --map-by",
                                params->cpus_per_rank, pol->pe);
        pol->pe = params->cpus_per_rank;
    }
    if (pol->pe == 0)
        pol->pe = 1;
    /* A core (or a hardware thread) is one CPU: mapping "one rank per core" with more
     * CPUs per rank is contradictory, as mpirun also says. Without --map-by, ranks of
     * several CPUs are mapped by slot.
     */
    if (!pol->ppr && pol->pe > 1) {
        if (!params->map_by)
            pol->map = LOOM__LVL_SLOT;
        else if (pol->map == LOOM__LVL_HWTHREAD
                 || (pol->map == LOOM__LVL_CORE && !pol->hwthreads))
            return loom_errset (error, EINVAL,
                                "pe=%d is larger than the %s --map-by %s places each "
                                "rank on; use --map-by slot:pe=%d or a larger object",
                                pol->pe, loom__level_name (pol->map),
                                loom__level_name (pol->map), pol->pe);
    }
    if (params->rank_by
        && level_lookup (params->rank_by, strlen (params->rank_by), RANK_LEVELS,
                         &pol->rank)
               < 0)
        return loom_errset (error, EINVAL,
                            "unknown --rank-by policy '%s' (expected slot, hwthread, "
                            "core, l3cache, numa, package or node)",
                            params->rank_by);
    pol->bind = pol->hwthreads ? LOOM__LVL_HWTHREAD : LOOM__LVL_CORE;
    if (params->bind_to
        && level_lookup (params->bind_to, strlen (params->bind_to), BIND_LEVELS,
                         &pol->bind)
               < 0)
        return loom_errset (error, EINVAL,
                            "unknown --bind-to policy '%s' (expected none, hwthread, "
                            "core, l3cache, numa or package)",
                            params->bind_to);
    const char *cpu = pol->hwthreads ? "hwthread" : "core";
    char map[48];
    if (pol->ppr)
        snprintf (map, sizeof (map), "ppr:%d:%s", pol->ppr,
                  loom__level_name (pol->map));
    else
        snprintf (map, sizeof (map), "%s", loom__level_name (pol->map));
    snprintf (pol->text, sizeof (pol->text),
              "map-by %s, rank-by %s, bind-to %s, %d %s%s per rank%s", map,
              pol->rank == LOOM__LVL_SLOT ? "slot (mapping order)"
                                          : loom__level_name (pol->rank),
              loom__level_name (pol->bind), pol->pe, cpu, pol->pe > 1 ? "s" : "",
              pol->oversubscribe ? ", oversubscribe allowed" : "");
    return 0;
}
