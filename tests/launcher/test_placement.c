/* SPDX-License-Identifier: MIT */
/* Placement engine: golden placements on XML topologies of real machine shapes and
 * synthetic ones (tests/launcher/topologies/goldens.txt), bad parameters, reports,
 * and the host list parsers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/launch.h>

static char *topo_dir (void)
{
    const char *src = getenv ("LOOM_SOURCE_DIR");
    char *d;
    assert_non_null (src);
    assert_true (asprintf (&d, "%s/tests/launcher/topologies", src) > 0);
    return d;
}

struct gcase {
    char name[512];
    char topo[512];
    int synthetic;
    int hosts;
    char cpuset[512];
    struct loom_placement_params pp;
    char map_by[64], rank_by[64], bind_to[64];
    char error[512];
    int nexpect;
    int exp_node[256];
    char exp_bind[256][64];
    int has_expect;
};

static void parse_args (struct gcase *c, char *s)
{
    for (char *save = NULL, *tok = strtok_r (s, " ", &save); tok;
         tok = strtok_r (NULL, " ", &save)) {
        char *eq = strchr (tok, '=');
        assert_non_null (eq);
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp (tok, "nprocs") == 0)
            c->pp.nprocs = atoi (v);
        else if (strcmp (tok, "map_by") == 0)
            snprintf (c->map_by, sizeof (c->map_by), "%s", v);
        else if (strcmp (tok, "rank_by") == 0)
            snprintf (c->rank_by, sizeof (c->rank_by), "%s", v);
        else if (strcmp (tok, "bind_to") == 0)
            snprintf (c->bind_to, sizeof (c->bind_to), "%s", v);
        else if (strcmp (tok, "pe") == 0)
            c->pp.cpus_per_rank = atoi (v);
        else if (strcmp (tok, "oversubscribe") == 0)
            c->pp.oversubscribe = atoi (v);
        else if (strcmp (tok, "hwthreads") == 0)
            c->pp.hwthreads = atoi (v);
        else
            fail_msg ("goldens: unknown arg '%s'", tok);
    }
}

/* Run one golden case; returns the number of mismatches (printed). */
static int run_case (struct gcase *c, const char *dir)
{
    loom_error_t e = {""};
    char path[1024];
    snprintf (path, sizeof (path), "%s/%s", dir, c->topo);
    loom_topo_t *t = c->synthetic ? loom_topo_load (LOOM_TOPO_SYNTHETIC, c->topo, &e)
                                  : loom_topo_load (LOOM_TOPO_XML, path, &e);
    if (!t)
        fail_msg ("%s: topology: %s", c->name, e.text);
    struct loom_node nodes[4];
    int hosts = c->hosts ? c->hosts : 1;
    const char *names[] = {"n0", "n1", "n2", "n3"};
    for (int i = 0; i < hosts; i++)
        nodes[i] = (struct loom_node){.name = hosts > 1 ? names[i] : NULL,
                                      .topo = t,
                                      .cpuset = c->cpuset[0] ? c->cpuset : NULL};
    c->pp.map_by = c->map_by[0] ? c->map_by : NULL;
    c->pp.rank_by = c->rank_by[0] ? c->rank_by : NULL;
    c->pp.bind_to = c->bind_to[0] ? c->bind_to : NULL;
    loom_placement_t *p = loom_placement_compute (nodes, (size_t)hosts, &c->pp, &e);
    int bad = 0;
    if (c->error[0]) {
        if (p || !strstr (e.text, c->error) || errno != EINVAL) {
            print_error ("%s: expected error containing '%s', got %s '%s'\n", c->name,
                         c->error, p ? "a placement" : "error", e.text);
            bad++;
        }
    } else if (!p) {
        print_error ("%s: unexpected error: %s\n", c->name, e.text);
        bad++;
    } else {
        if (loom_placement_size (p) != c->nexpect) {
            print_error ("%s: %d ranks placed, expected %d\n", c->name,
                         loom_placement_size (p), c->nexpect);
            bad++;
        }
        for (int r = 0; r < c->nexpect && r < loom_placement_size (p); r++) {
            struct loom_rank_place rp;
            char got[64];
            assert_int_equal (loom_placement_rank (p, r, &rp), 0);
            hwloc_bitmap_list_snprintf (got, sizeof (got), rp.binding);
            if (rp.node != c->exp_node[r] || strcmp (got, c->exp_bind[r]) != 0) {
                print_error ("%s: rank %d on node %d PUs %s, expected node %d PUs %s\n",
                             c->name, r, rp.node, got, c->exp_node[r], c->exp_bind[r]);
                bad++;
            }
            assert_non_null (rp.why);
            assert_true (strlen (rp.why) > 10);
        }
    }
    loom_placement_destroy (p);
    loom_topo_destroy (t);
    return bad;
}

static void goldens (void **state)
{
    char *dir = topo_dir (), file[1024], line[512];
    snprintf (file, sizeof (file), "%s/goldens.txt", dir);
    FILE *f = fopen (file, "r");
    assert_non_null (f);
    struct gcase *c = NULL;
    int cases = 0, bad = 0, in_expect = 0;
    while (fgets (line, sizeof (line), f)) {
        line[strcspn (line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp (line, "case ", 5) == 0) {
            c = calloc (1, sizeof (*c));
            assert_non_null (c);
            struct loom_placement_params init = LOOM_PLACEMENT_PARAMS_INIT;
            c->pp = init;
            snprintf (c->name, sizeof (c->name), "%s", line + 5);
            in_expect = 0;
        } else if (!c) {
            fail_msg ("goldens: '%s' outside a case", line);
        } else if (strncmp (line, "topo ", 5) == 0) {
            snprintf (c->topo, sizeof (c->topo), "%s", line + 5);
        } else if (strncmp (line, "synthetic ", 10) == 0) {
            snprintf (c->topo, sizeof (c->topo), "%s", line + 10);
            c->synthetic = 1;
        } else if (strncmp (line, "hosts ", 6) == 0) {
            c->hosts = atoi (line + 6);
        } else if (strncmp (line, "cpuset ", 7) == 0) {
            snprintf (c->cpuset, sizeof (c->cpuset), "%s", line + 7);
        } else if (strncmp (line, "args ", 5) == 0) {
            parse_args (c, line + 5);
        } else if (strncmp (line, "error ", 6) == 0) {
            snprintf (c->error, sizeof (c->error), "%s", line + 6);
        } else if (strcmp (line, "expect") == 0) {
            in_expect = 1;
        } else if (strcmp (line, "end") == 0) {
            bad += run_case (c, dir);
            cases++;
            free (c);
            c = NULL;
        } else if (in_expect) {
            int r, node;
            char bind[64];
            assert_int_equal (sscanf (line, "%d %d %63s", &r, &node, bind), 3);
            assert_int_equal (r, c->nexpect);
            c->exp_node[r] = node;
            snprintf (c->exp_bind[r], sizeof (c->exp_bind[r]), "%s", bind);
            c->nexpect++;
        } else {
            fail_msg ("goldens: bad line '%s'", line);
        }
    }
    fclose (f);
    free (dir);
    assert_true (cases >= 20);
    assert_int_equal (bad, 0);
}

static loom_topo_t *synth (const char *desc)
{
    loom_topo_t *t = loom_topo_load (LOOM_TOPO_SYNTHETIC, desc, NULL);
    assert_non_null (t);
    return t;
}

static void bad_params (void **state)
{
    loom_topo_t *t = synth ("pack:1 core:4 pu:2");
    struct loom_node n = {.topo = t};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    loom_error_t e;
    static const struct {
        const char *map, *rank, *bind;
        int nprocs, pe;
        const char *want;
    } table[] = {
        {"bogus", NULL, NULL, 1, 0, "unknown --map-by policy 'bogus'"},
        {"ppr", NULL, NULL, 1, 0, "bad ppr syntax 'ppr'"},
        {"ppr:0:core", NULL, NULL, 1, 0, "bad ppr syntax"},
        {"ppr:2", NULL, NULL, 1, 0, "bad ppr syntax"},
        {"ppr:2:core:pe=x", NULL, NULL, 1, 0, "bad --map-by modifier 'pe=x'"},
        {"core:span", NULL, NULL, 1, 0, "unknown --map-by modifier 'span'"},
        {NULL, "diagonal", NULL, 1, 0, "unknown --rank-by policy 'diagonal'"},
        {NULL, NULL, "board", 1, 0, "unknown --bind-to policy 'board'"},
        {NULL, NULL, NULL, -1, 0, "number of ranks must be positive"},
        {NULL, NULL, NULL, 1, -2, "--cpus-per-rank must be a number from 1 to 65536"},
        {"ppr:999999999:core", NULL, NULL, 1, 0, "bad ppr syntax"},
        {"core:pe=2", NULL, NULL, 1, 3, "--cpus-per-rank 3 contradicts pe=2"},
        {"core:pe=2", NULL, NULL, 1, 0, "pe=2 is larger than the core --map-by core"},
        {"hwthread", NULL, NULL, 1, 2, "pe=2 is larger than the hwthread"},
        {"l3cache", NULL, NULL, 1, 0, "has no l3cache object"},
        {NULL, NULL, NULL, 1, 5, "pe=5 is larger than node localhost"},
    };
    for (size_t i = 0; i < sizeof (table) / sizeof (table[0]); i++) {
        pp.map_by = table[i].map;
        pp.rank_by = table[i].rank;
        pp.bind_to = table[i].bind;
        pp.nprocs = table[i].nprocs;
        pp.cpus_per_rank = table[i].pe;
        e.text[0] = '\0';
        errno = 0;
        loom_placement_t *p = loom_placement_compute (&n, 1, &pp, &e);
        if (p || errno != EINVAL || !strstr (e.text, table[i].want))
            fail_msg ("case %zu: want EINVAL '%s', got %s errno %d '%s'", i,
                      table[i].want, p ? "placement" : "NULL", errno, e.text);
    }
    pp = (struct loom_placement_params)LOOM_PLACEMENT_PARAMS_INIT;
    errno = 0;
    assert_null (loom_placement_compute (NULL, 1, &pp, &e));
    assert_int_equal (errno, EINVAL);
    assert_null (loom_placement_compute (&n, 0, &pp, &e));
    assert_int_equal (errno, EINVAL);
    assert_null (loom_placement_compute (&n, 1, NULL, &e));
    struct loom_node nt = {.topo = NULL};
    assert_null (loom_placement_compute (&nt, 1, &pp, &e));
    struct loom_node bad_set = {.topo = t, .cpuset = "99"};
    assert_null (loom_placement_compute (&bad_set, 1, &pp, &e));
    assert_non_null (strstr (e.text, "leaves no usable PU"));
    loom_placement_destroy (NULL); /* accepted */
    loom_topo_destroy (t);
}

static void reports (void **state)
{
    loom_topo_t *t = synth ("pack:2 core:2 pu:2");
    struct loom_node n = {.topo = t, .cpuset = "0-5"};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    pp.nprocs = 4;
    pp.oversubscribe = 1;
    loom_placement_t *p = loom_placement_compute (&n, 1, &pp, NULL);
    assert_non_null (p);
    assert_int_equal (loom_placement_size (p), 4);
    assert_int_equal (loom_placement_nnodes (p), 1);
    assert_true (loom_placement_oversubscribed (p));
    struct loom_rank_place rp;
    assert_int_equal (loom_placement_rank (p, 3, &rp), 0);
    assert_int_equal (rp.local_rank, 3);
    assert_string_equal (rp.node_name, "localhost");
    assert_int_equal (loom_placement_rank (p, 4, &rp), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_placement_rank (p, -1, &rp), -1);

    char *b = loom_placement_format_bindings (p);
    assert_non_null (b);
    /* PUs 6-7 are outside the cpuset: '-'; rank 3 shares core 0 (oversubscribed). */
    const char *want = "rank 0 on localhost: PUs 0-1 [BB/..][../--]\n"
                       "rank 1 on localhost: PUs 2-3 [../BB][../--]\n"
                       "rank 2 on localhost: PUs 4-5 [../..][BB/--]\n"
                       "rank 3 on localhost: PUs 0-1 [BB/..][../--]\n";
    assert_string_equal (b, want);
    free (b);
    char *x = loom_placement_format_explain (p);
    assert_non_null (x);
    assert_non_null (strstr (x, "placement of 4 ranks: map-by core, rank-by slot "
                                "(mapping order), bind-to core, 1 core per rank, "
                                "oversubscribe allowed\n"));
    assert_non_null (strstr (x, "node 0 localhost: allowed PUs 0-5 = 3 cores, room for "
                                "3 ranks, 4 placed\n"));
    assert_non_null (strstr (x, "oversubscribed: more ranks than cores"));
    assert_non_null (strstr (x, "rank 3: map-by core: next free CPU of node localhost "
                                "-> core 0 (shared: oversubscribed); bind-to core -> "
                                "PUs 0-1\n"));
    free (x);
    loom_placement_destroy (p);
    loom_topo_destroy (t);
}

static void hosts_parse (void **state)
{
    struct loom_host *h = NULL;
    loom_error_t e;
    int n = loom_hosts_parse ("a:2,b,c-1.x:16", &h, &e);
    assert_int_equal (n, 3);
    assert_string_equal (h[0].name, "a");
    assert_int_equal (h[0].slots, 2);
    assert_string_equal (h[1].name, "b");
    assert_int_equal (h[1].slots, 0);
    assert_string_equal (h[2].name, "c-1.x");
    assert_int_equal (h[2].slots, 16);
    loom_hosts_free (h, n);
    static const char *bad[] = {"", "a:0", "a:", ":2", "a,,b", "a:x", "a b", "a:2:3"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        errno = 0;
        if (loom_hosts_parse (bad[i], &h, &e) != -1 || errno != EINVAL || h)
            fail_msg ("host list '%s' accepted", bad[i]);
    }
    loom_hosts_free (NULL, 0);
}

static void hosts_file (void **state)
{
    char path[] = "/tmp/loom-hostfile.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    const char *text =
        "# cluster\nn1 slots=4\n\n  n2   # two\nn3 slots=2 max_slots=8\n";
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    struct loom_host *h;
    loom_error_t e;
    int n = loom_hosts_read_file (path, &h, &e);
    assert_int_equal (n, 3);
    assert_string_equal (h[1].name, "n2");
    assert_int_equal (h[0].slots, 4);
    assert_int_equal (h[1].slots, 0);
    assert_int_equal (h[2].slots, 2);
    loom_hosts_free (h, n);
    FILE *f = fopen (path, "w");
    fputs ("n1\nn2 slots=zero\n", f);
    fclose (f);
    assert_int_equal (loom_hosts_read_file (path, &h, &e), -1);
    assert_int_equal (errno, EINVAL);
    assert_non_null (strstr (e.text, ":2: bad entry 'slots=zero'"));
    unlink (path);
    assert_int_equal (loom_hosts_read_file (path, &h, &e), -1);
    assert_int_equal (errno, ENOENT);
}

static void hosts_slurm (void **state)
{
    struct loom_host *h;
    loom_error_t e;
    unsetenv ("SLURM_NODELIST");
    unsetenv ("SLURM_JOB_NODELIST");
    assert_int_equal (loom_hosts_from_slurm (&h, &e), 0);
    setenv ("SLURM_JOB_NODELIST", "n[1-3,07],gpu2,x[08-09]y", 1);
    setenv ("SLURM_TASKS_PER_NODE", "2(x3),1,4(x3)", 1);
    int n = loom_hosts_from_slurm (&h, &e);
    assert_int_equal (n, 7);
    const char *names[] = {"n1", "n2", "n3", "n07", "gpu2", "x08y", "x09y"};
    const unsigned slots[] = {2, 2, 2, 1, 4, 4, 4};
    for (int i = 0; i < n; i++) {
        assert_string_equal (h[i].name, names[i]);
        assert_int_equal (h[i].slots, slots[i]);
    }
    loom_hosts_free (h, n);
    static const char *bad[] = {"n[1-", "n[3-1]", "n[a-b]", "n[1-2][3-4]", "n[]"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        setenv ("SLURM_JOB_NODELIST", bad[i], 1);
        if (loom_hosts_from_slurm (&h, &e) != -1 || errno != EINVAL)
            fail_msg ("Slurm node list '%s' accepted", bad[i]);
    }
    setenv ("SLURM_JOB_NODELIST", "a,b", 1);
    setenv ("SLURM_TASKS_PER_NODE", "2(y3)", 1);
    assert_int_equal (loom_hosts_from_slurm (&h, &e), -1);
    unsetenv ("SLURM_JOB_NODELIST");
    unsetenv ("SLURM_TASKS_PER_NODE");
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (goldens),    cmocka_unit_test (bad_params),
        cmocka_unit_test (reports),    cmocka_unit_test (hosts_parse),
        cmocka_unit_test (hosts_file), cmocka_unit_test (hosts_slurm),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
