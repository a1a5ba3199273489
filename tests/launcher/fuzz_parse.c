/* SPDX-License-Identifier: MIT */
/* Fuzz target for the launcher's parsers: placement policies (--map-by, --rank-by,
 * --bind-to, cpusets, counts) and host lists (--host, hostfiles, Slurm node lists).
 *
 * Input: first byte picks the parser, the rest are '\n'-separated fields.
 *   'P' map_by \n rank_by \n bind_to \n nprocs \n cpuset \n pe \n flags
 *   'H' host list             'F' hostfile text           'S' node list \n tasks
 * Besides not crashing, a placement that succeeds must hold its promises: every rank
 * bound to allowed PUs, inside its node, and no CPU shared unless oversubscribed.
 *
 * Built as a normal program it replays the files named on its command line (the
 * corpus in tests/launcher/fuzz-corpus/, run by ctest). With clang's libFuzzer, build
 * with -DLOOM_FUZZ_LIBFUZZER -fsanitize=fuzzer to explore.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/launch.h>

#define NFIELDS 8

/* Like assert(), but also in release builds (NDEBUG), where the replay runs. */
#define CHECK(x)                                                                       \
    do {                                                                               \
        if (!(x)) {                                                                    \
            fprintf (stderr, "fuzz_parse: %s:%d: check failed: %s\n", __FILE__,        \
                     __LINE__, #x);                                                    \
            abort ();                                                                  \
        }                                                                              \
    } while (0)

static void split (char *s, char **f)
{
    for (int i = 0; i < NFIELDS; i++) {
        f[i] = s;
        char *nl = s ? strchr (s, '\n') : NULL;
        if (nl)
            *nl = '\0';
        s = nl ? nl + 1 : NULL;
    }
}

static const char *field (char *f)
{
    return f && *f ? f : NULL;
}

static void fuzz_placement (char **f)
{
    static loom_topo_t *topo;
    if (!topo)
        topo = loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 numa:2 l3:2 core:2 pu:2",
                               NULL);
    CHECK (topo);
    struct loom_node nodes[2] = {{.name = "a", .topo = topo, .cpuset = field (f[4])},
                                 {.name = "b", .topo = topo, .cpuset = field (f[4])}};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    pp.map_by = field (f[0]);
    pp.rank_by = field (f[1]);
    pp.bind_to = field (f[2]);
    pp.nprocs = f[3] ? atoi (f[3]) % 200 : 0;
    pp.cpus_per_rank = f[5] ? atoi (f[5]) % 40 : 0;
    int flags = f[6] ? atoi (f[6]) : 0;
    pp.oversubscribe = flags & 1;
    pp.hwthreads = (flags >> 1) & 1;
    size_t nnodes = (flags >> 2) & 1 ? 2 : 1;
    loom_error_t e = {""};
    loom_placement_t *p = loom_placement_compute (nodes, nnodes, &pp, &e);
    if (!p) {
        CHECK (e.text[0] != '\0' && strchr (e.text, '\n') == NULL);
        return;
    }
    hwloc_bitmap_t used[2] = {hwloc_bitmap_alloc (), hwloc_bitmap_alloc ()};
    int shared = 0;
    for (int r = 0; r < loom_placement_size (p); r++) {
        struct loom_rank_place rp;
        CHECK (loom_placement_rank (p, r, &rp) == 0);
        CHECK (rp.node >= 0 && (size_t)rp.node < nnodes);
        CHECK (!hwloc_bitmap_iszero (rp.binding));
        CHECK (hwloc_bitmap_isincluded (rp.binding, loom_topo_allowed (topo)));
        CHECK (hwloc_bitmap_isincluded (rp.cpus, rp.binding)
               || pp.bind_to /* hwthread binding narrows to one PU per core */);
        shared |= hwloc_bitmap_intersects (used[rp.node], rp.cpus);
        hwloc_bitmap_or (used[rp.node], used[rp.node], rp.cpus);
        CHECK (rp.why && *rp.why);
    }
    CHECK (!shared || loom_placement_oversubscribed (p));
    free (loom_placement_format_bindings (p));
    free (loom_placement_format_explain (p));
    hwloc_bitmap_free (used[0]);
    hwloc_bitmap_free (used[1]);
    loom_placement_destroy (p);
}

static void fuzz_hosts (char kind, char *text, char **f)
{
    struct loom_host *h = NULL;
    loom_error_t e = {""};
    int n = -1;
    if (kind == 'H') {
        n = loom_hosts_parse (text, &h, &e);
    } else if (kind == 'F') {
        char path[] = "/tmp/loom-fuzz-hostfile.XXXXXX";
        int fd = mkstemp (path);
        CHECK (fd >= 0);
        ssize_t len = (ssize_t)strlen (text);
        CHECK (write (fd, text, (size_t)len) == len);
        close (fd);
        n = loom_hosts_read_file (path, &h, &e);
        unlink (path);
    } else {
        setenv ("SLURM_JOB_NODELIST", f[0] ? f[0] : "", 1);
        if (f[1])
            setenv ("SLURM_TASKS_PER_NODE", f[1], 1);
        else
            unsetenv ("SLURM_TASKS_PER_NODE");
        n = loom_hosts_from_slurm (&h, &e);
    }
    if (n < 0) {
        CHECK (!h && e.text[0] && !strchr (e.text, '\n'));
        return;
    }
    for (int i = 0; i < n; i++)
        CHECK (h[i].name && *h[i].name && strlen (h[i].name) < 300);
    loom_hosts_free (h, n);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char *s = malloc (size);
    memcpy (s, data + 1, size - 1);
    s[size - 1] = '\0';
    char *copy = strdup (s), *f[NFIELDS];
    split (s, f);
    switch (data[0]) {
    case 'P':
        fuzz_placement (f);
        break;
    case 'H':
    case 'F':
    case 'S':
        fuzz_hosts ((char)data[0], copy, f);
        break;
    }
    free (copy);
    free (s);
    return 0;
}

#ifndef LOOM_FUZZ_LIBFUZZER
int main (int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen (argv[i], "rb");
        if (!fp) {
            fprintf (stderr, "fuzz_parse: cannot read %s\n", argv[i]);
            return 1;
        }
        uint8_t buf[4096];
        size_t len = fread (buf, 1, sizeof (buf), fp);
        fclose (fp);
        LLVMFuzzerTestOneInput (buf, len);
        n++;
    }
    printf ("fuzz_parse: %d inputs replayed\n", n);
    return n > 0 ? 0 : 1;
}
#endif
