/* SPDX-License-Identifier: MIT */
/* Loading and summarising one node's hwloc topology. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/topo.h>

struct loom_topo {
    hwloc_topology_t hw;
    hwloc_bitmap_t
        allowed; /* PUs tasks may use: hwloc's allowed set, maybe restricted */
    loom_topo_source_t source;
    char *spec;
};

void loom_topo_destroy (loom_topo_t *topo)
{
    if (topo) {
        int saved = errno;
        if (topo->hw)
            hwloc_topology_destroy (topo->hw);
        hwloc_bitmap_free (topo->allowed);
        free (topo->spec);
        free (topo);
        errno = saved;
    }
}

static int configure_source (loom_topo_t *t,
                             loom_topo_source_t source,
                             const char *spec,
                             loom_error_t *error)
{
    switch (source) {
    case LOOM_TOPO_LOCAL:
        /* Keep disallowed PUs so 'loom topo' can show what a cgroup hides. */
        if (hwloc_topology_set_flags (t->hw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED)
            < 0)
            return loom_errset (error, EINVAL, "hwloc refused topology flags");
        return 0;
    case LOOM_TOPO_SYNTHETIC:
        if (!spec || !*spec)
            return loom_errset (error, EINVAL, "empty synthetic topology");
        if (hwloc_topology_set_synthetic (t->hw, spec) < 0)
            return loom_errset (error, EINVAL,
                                "bad synthetic topology '%s' (expected e.g. "
                                "\"pack:2 numa:2 l3:2 core:4 pu:2\")",
                                spec);
        return 0;
    case LOOM_TOPO_XML:
        if (!spec || !*spec)
            return loom_errset (error, EINVAL, "empty XML topology path");
        if (access (spec, R_OK) < 0)
            return loom_errprintf (error, "cannot read topology XML '%s': %s", spec,
                                   strerror (errno));
        if (hwloc_topology_set_xml (t->hw, spec) < 0)
            return loom_errset (error, EPROTO, "'%s' is not a valid hwloc topology XML",
                                spec);
        return 0;
    }
    return loom_errset (error, EINVAL, "unknown topology source %d", (int)source);
}

loom_topo_t *
loom_topo_load (loom_topo_source_t source, const char *spec, loom_error_t *error)
{
    loom_topo_t *t = calloc (1, sizeof (*t));
    if (!t) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    t->source = source;
    if (spec && !(t->spec = strdup (spec))) {
        loom_errset (error, ENOMEM, "out of memory");
        goto error;
    }
    if (hwloc_topology_init (&t->hw) < 0) {
        t->hw = NULL;
        loom_errset (error, ENOMEM, "hwloc_topology_init failed");
        goto error;
    }
    if (configure_source (t, source, spec, error) < 0)
        goto error;
    if (hwloc_topology_load (t->hw) < 0) {
        /* hwloc parses XML lazily: a malformed file surfaces here. */
        loom_errset (error, source == LOOM_TOPO_XML ? EPROTO : EINVAL,
                     "cannot load topology%s%s: %s", spec ? " " : "", spec ? spec : "",
                     strerror (errno));
        goto error;
    }
    t->allowed = hwloc_bitmap_dup (hwloc_topology_get_allowed_cpuset (t->hw));
    if (!t->allowed) {
        loom_errset (error, ENOMEM, "out of memory");
        goto error;
    }
    return t;
error:
    loom_topo_destroy (t);
    return NULL;
}

hwloc_topology_t loom_topo_hwloc (loom_topo_t *topo)
{
    return topo->hw;
}

hwloc_const_cpuset_t loom_topo_allowed (loom_topo_t *topo)
{
    return topo->allowed;
}

int loom_topo_restrict (loom_topo_t *topo, const char *cpulist, loom_error_t *error)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    if (!set)
        return loom_errset (error, ENOMEM, "out of memory");
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset (topo->hw);
    if (!cpulist || hwloc_bitmap_list_sscanf (set, cpulist) < 0
        || hwloc_bitmap_iszero (set)) {
        hwloc_bitmap_free (set);
        return loom_errset (error, EINVAL,
                            "bad cpuset '%s' (expected a list like 0-3,8)",
                            cpulist ? cpulist : "");
    }
    if (!hwloc_bitmap_isincluded (set, all)) {
        char *s = NULL;
        hwloc_bitmap_list_asprintf (&s, all);
        loom_errset (error, EINVAL, "cpuset '%s' names PUs outside the topology (%s)",
                     cpulist, s ? s : "?");
        free (s);
        hwloc_bitmap_free (set);
        return -1;
    }
    hwloc_bitmap_and (topo->allowed, topo->allowed, set);
    hwloc_bitmap_free (set);
    if (hwloc_bitmap_iszero (topo->allowed))
        return loom_errset (error, EINVAL, "cpuset '%s' leaves no allowed PU", cpulist);
    return 0;
}

static unsigned count_type (hwloc_topology_t hw, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type (hw, type);
    return n > 0 ? (unsigned)n : 0;
}

void loom_topo_counts (loom_topo_t *topo, struct loom_topo_counts *c)
{
    hwloc_topology_t hw = topo->hw;
    memset (c, 0, sizeof (*c));
    c->packages = count_type (hw, HWLOC_OBJ_PACKAGE);
    c->numa_nodes = count_type (hw, HWLOC_OBJ_NUMANODE);
    c->l3_caches = count_type (hw, HWLOC_OBJ_L3CACHE);
    c->cores = count_type (hw, HWLOC_OBJ_CORE);
    c->pus = count_type (hw, HWLOC_OBJ_PU);
    int w = hwloc_bitmap_weight (topo->allowed);
    c->allowed_pus = w > 0 ? (unsigned)w : 0;
    for (unsigned i = 0; i < c->cores; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type (hw, HWLOC_OBJ_CORE, i);
        if (core && hwloc_bitmap_intersects (core->cpuset, topo->allowed))
            c->allowed_cores++;
    }
}

/* ---- text ------------------------------------------------------------------------ */

/* A growable string; on allocation failure it stays failed and the result is NULL. */
struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_printf (struct strbuf *b, const char *fmt, ...) LOOM_PRINTF (2, 3);
static void sb_printf (struct strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt,
                           ap);
        va_end (ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *s = realloc (b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static char *sb_finish (struct strbuf *b)
{
    if (b->failed || !b->s) {
        free (b->s);
        errno = ENOMEM;
        return NULL;
    }
    return b->s;
}

static char *cpuset_list (hwloc_const_bitmap_t set)
{
    char *s = NULL;
    if (hwloc_bitmap_list_asprintf (&s, set) < 0)
        return NULL;
    return s;
}

/* Logical indexes of the cores inside 'set', as a list string ("0-3,8"). */
static char *cores_inside (hwloc_topology_t hw, hwloc_const_cpuset_t set)
{
    hwloc_bitmap_t ids = hwloc_bitmap_alloc ();
    hwloc_obj_t core = NULL;
    while ((core = hwloc_get_next_obj_inside_cpuset_by_type (hw, set, HWLOC_OBJ_CORE,
                                                             core)))
        hwloc_bitmap_set (ids, core->logical_index);
    char *s = cpuset_list (ids);
    hwloc_bitmap_free (ids);
    return s;
}

static void human_bytes (char *buf, size_t len, uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf (buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static const char *plural (unsigned n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* NUMA nodes and L3 caches whose PUs lie inside 'within', indented by 'indent'. */
static void text_container (struct strbuf *b,
                            hwloc_topology_t hw,
                            hwloc_const_cpuset_t within,
                            const char *indent)
{
    char size[32];
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type (hw, HWLOC_OBJ_NUMANODE, o))) {
        if (!o->cpuset || !hwloc_bitmap_isincluded (o->cpuset, within))
            continue;
        char *pus = cpuset_list (o->cpuset);
        human_bytes (size, sizeof (size), o->attr ? o->attr->numanode.local_memory : 0);
        sb_printf (b, "%sNUMA %u: PUs %s, %s\n", indent, o->logical_index,
                   pus ? pus : "?", size);
        free (pus);
    }
    int l3s = 0;
    o = NULL;
    while ((o = hwloc_get_next_obj_inside_cpuset_by_type (hw, within, HWLOC_OBJ_L3CACHE,
                                                          o))) {
        char *pus = cpuset_list (o->cpuset);
        char *cores = cores_inside (hw, o->cpuset);
        human_bytes (size, sizeof (size), o->attr ? o->attr->cache.size : 0);
        sb_printf (b, "%sL3 %u: %s, cores %s, PUs %s\n", indent, o->logical_index, size,
                   cores ? cores : "?", pus ? pus : "?");
        free (pus);
        free (cores);
        l3s++;
    }
    if (l3s == 0) {
        char *pus = cpuset_list (within);
        char *cores = cores_inside (hw, within);
        sb_printf (b, "%scores %s, PUs %s\n", indent, cores && *cores ? cores : "none",
                   pus ? pus : "?");
        free (pus);
        free (cores);
    }
}

static void text_source (struct strbuf *b, const loom_topo_t *topo)
{
    switch (topo->source) {
    case LOOM_TOPO_LOCAL:
        sb_printf (b, "this machine");
        break;
    case LOOM_TOPO_SYNTHETIC:
        sb_printf (b, "synthetic \"%s\"", topo->spec);
        break;
    case LOOM_TOPO_XML:
        sb_printf (b, "XML %s", topo->spec);
        break;
    }
}

char *loom_topo_format_text (loom_topo_t *topo)
{
    struct strbuf b = {0};
    struct loom_topo_counts c;
    hwloc_topology_t hw = topo->hw;

    loom_topo_counts (topo, &c);
    sb_printf (&b, "Topology: ");
    text_source (&b, topo);
    sb_printf (&b, "\n");
    sb_printf (&b, "  %u %s, %u NUMA %s, %u L3 %s, %u %s, %u %s\n", c.packages,
               plural (c.packages, "package", "packages"), c.numa_nodes,
               plural (c.numa_nodes, "node", "nodes"), c.l3_caches,
               plural (c.l3_caches, "cache", "caches"), c.cores,
               plural (c.cores, "core", "cores"), c.pus, plural (c.pus, "PU", "PUs"));
    char *allowed = cpuset_list (topo->allowed);
    sb_printf (&b, "  allowed cpuset: %s (%u of %u PUs, %u of %u cores)\n",
               allowed ? allowed : "?", c.allowed_pus, c.pus, c.allowed_cores, c.cores);
    free (allowed);

    if (c.packages == 0) {
        text_container (&b, hw, hwloc_topology_get_topology_cpuset (hw), "  ");
    } else {
        hwloc_obj_t pkg = NULL;
        while ((pkg = hwloc_get_next_obj_by_type (hw, HWLOC_OBJ_PACKAGE, pkg))) {
            char *pus = cpuset_list (pkg->cpuset);
            sb_printf (&b, "Package %u: PUs %s\n", pkg->logical_index, pus ? pus : "?");
            free (pus);
            text_container (&b, hw, pkg->cpuset, "  ");
        }
    }
    return sb_finish (&b);
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *json_cpuset (hwloc_const_bitmap_t set)
{
    char *s = cpuset_list (set);
    json_t *j = json_string (s ? s : "");
    free (s);
    return j;
}

static json_t *json_objects (loom_topo_t *topo, hwloc_obj_type_t type)
{
    hwloc_topology_t hw = topo->hw;
    json_t *arr = json_array ();
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_obj_by_type (hw, type, o))) {
        json_t *j = json_object ();
        json_object_set_new (j, "index", json_integer (o->logical_index));
        json_object_set_new (j, "cpuset", json_cpuset (o->cpuset));
        if (type == HWLOC_OBJ_NUMANODE && o->attr)
            json_object_set_new (
                j, "memory_bytes",
                json_integer ((json_int_t)o->attr->numanode.local_memory));
        if (type == HWLOC_OBJ_L3CACHE && o->attr)
            json_object_set_new (j, "size_bytes",
                                 json_integer ((json_int_t)o->attr->cache.size));
        if (type != HWLOC_OBJ_CORE && type != HWLOC_OBJ_NUMANODE) {
            char *cores = cores_inside (hw, o->cpuset);
            json_object_set_new (j, "cores", json_string (cores ? cores : ""));
            free (cores);
        }
        json_array_append_new (arr, j);
    }
    return arr;
}

char *loom_topo_format_json (loom_topo_t *topo)
{
    static const char *sources[] = {"local", "synthetic", "xml"};
    struct loom_topo_counts c;
    loom_topo_counts (topo, &c);

    json_t *root = json_object ();
    json_object_set_new (root, "source", json_string (sources[topo->source]));
    if (topo->spec)
        json_object_set_new (root, "spec", json_string (topo->spec));
    json_object_set_new (root, "packages", json_integer (c.packages));
    json_object_set_new (root, "numa_nodes", json_integer (c.numa_nodes));
    json_object_set_new (root, "l3_caches", json_integer (c.l3_caches));
    json_object_set_new (root, "cores", json_integer (c.cores));
    json_object_set_new (root, "pus", json_integer (c.pus));
    json_object_set_new (root, "allowed_cpuset", json_cpuset (topo->allowed));
    json_object_set_new (root, "allowed_pus", json_integer (c.allowed_pus));
    json_object_set_new (root, "allowed_cores", json_integer (c.allowed_cores));
    json_object_set_new (root, "package_list", json_objects (topo, HWLOC_OBJ_PACKAGE));
    json_object_set_new (root, "numa_list", json_objects (topo, HWLOC_OBJ_NUMANODE));
    json_object_set_new (root, "l3_list", json_objects (topo, HWLOC_OBJ_L3CACHE));
    char *s = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    json_decref (root);
    if (!s)
        errno = ENOMEM;
    return s;
}
