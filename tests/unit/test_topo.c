/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <loom/topo.h>

static const struct {
    const char *synthetic;
    struct loom_topo_counts want;
} counts_table[] = {
    {"pack:2 numa:2 l3:2 core:4 pu:2", {2, 4, 8, 32, 64, 64, 32}},
    {"pack:1 l3:1 core:4 pu:1", {1, 1, 1, 4, 4, 4, 4}},
    {"pack:2 core:8 pu:2", {2, 1, 0, 16, 32, 32, 16}},
    {"core:2 pu:1", {0, 1, 0, 2, 2, 2, 2}},
};

static void synthetic_counts (void **state)
{
    for (size_t i = 0; i < sizeof (counts_table) / sizeof (counts_table[0]); i++) {
        loom_error_t e;
        loom_topo_t *t =
            loom_topo_load (LOOM_TOPO_SYNTHETIC, counts_table[i].synthetic, &e);
        assert_non_null (t);
        struct loom_topo_counts c;
        loom_topo_counts (t, &c);
        assert_int_equal (c.packages, counts_table[i].want.packages);
        assert_int_equal (c.numa_nodes, counts_table[i].want.numa_nodes);
        assert_int_equal (c.l3_caches, counts_table[i].want.l3_caches);
        assert_int_equal (c.cores, counts_table[i].want.cores);
        assert_int_equal (c.pus, counts_table[i].want.pus);
        assert_int_equal (c.allowed_pus, counts_table[i].want.allowed_pus);
        assert_int_equal (c.allowed_cores, counts_table[i].want.allowed_cores);
        loom_topo_destroy (t);
    }
}

static void text_of_known_topology (void **state)
{
    loom_topo_t *t =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 l3:1 core:2 pu:2", NULL);
    assert_non_null (t);
    char *text = loom_topo_format_text (t);
    assert_non_null (text);
    const char *want = "Topology: synthetic \"pack:2 l3:1 core:2 pu:2\"\n"
                       "  2 packages, 1 NUMA node, 2 L3 caches, 4 cores, 8 PUs\n"
                       "  allowed cpuset: 0-7 (8 of 8 PUs, 4 of 4 cores)\n"
                       "Package 0: PUs 0-3\n"
                       "  L3 0: 16.0 MiB, cores 0-1, PUs 0-3\n"
                       "Package 1: PUs 4-7\n"
                       "  L3 1: 16.0 MiB, cores 2-3, PUs 4-7\n";
    /* The single NUMA node spans both packages, so no package lists it. */
    assert_string_equal (text, want);
    free (text);
    loom_topo_destroy (t);
}

static void numa_listed_under_its_package (void **state)
{
    loom_topo_t *t =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 numa:2 core:2 pu:1", NULL);
    assert_non_null (t);
    char *text = loom_topo_format_text (t);
    assert_non_null (text);
    assert_non_null (strstr (text, "Package 1: PUs 4-7\n  NUMA 2: PUs 4-5"));
    assert_non_null (strstr (text, "  NUMA 3: PUs 6-7"));
    assert_non_null (strstr (text, "  cores 4-7, PUs 4-7\n"));
    free (text);
    loom_topo_destroy (t);
}

static void restrict_cpuset (void **state)
{
    loom_error_t e;
    loom_topo_t *t = loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:1 core:4 pu:2", NULL);
    assert_non_null (t);
    assert_int_equal (loom_topo_restrict (t, "0,2-3", &e), 0);
    struct loom_topo_counts c;
    loom_topo_counts (t, &c);
    assert_int_equal (c.allowed_pus, 3);
    assert_int_equal (c.allowed_cores, 2);

    static const char *bad[] = {"", "x-y", "99", "0-3,64"};
    for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++) {
        errno = 0;
        assert_int_equal (loom_topo_restrict (t, bad[i], &e), -1);
        assert_int_equal (errno, EINVAL);
        assert_true (strlen (e.text) > 0);
    }
    assert_int_equal (loom_topo_restrict (t, NULL, &e), -1);
    loom_topo_destroy (t);
}

static void json_has_counts (void **state)
{
    loom_topo_t *t =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 numa:2 l3:2 core:4 pu:2", NULL);
    assert_non_null (t);
    char *s = loom_topo_format_json (t);
    assert_non_null (s);
    json_error_t jerr;
    json_t *o = json_loads (s, 0, &jerr);
    assert_non_null (o);
    assert_string_equal (json_string_value (json_object_get (o, "source")),
                         "synthetic");
    assert_int_equal (json_integer_value (json_object_get (o, "cores")), 32);
    assert_int_equal (json_integer_value (json_object_get (o, "pus")), 64);
    assert_string_equal (json_string_value (json_object_get (o, "allowed_cpuset")),
                         "0-63");
    assert_int_equal (json_array_size (json_object_get (o, "numa_list")), 4);
    json_t *l3 = json_array_get (json_object_get (o, "l3_list"), 7);
    assert_string_equal (json_string_value (json_object_get (l3, "cores")), "28-31");
    json_decref (o);
    free (s);
    loom_topo_destroy (t);
}

static void bad_sources (void **state)
{
    static const struct {
        loom_topo_source_t source;
        const char *spec;
        int err;
        const char *mentions;
    } cases[] = {
        {LOOM_TOPO_SYNTHETIC, "pack:two core:4", EINVAL, "pack:two"},
        {LOOM_TOPO_SYNTHETIC, "", EINVAL, "empty"},
        {LOOM_TOPO_SYNTHETIC, NULL, EINVAL, "empty"},
        {LOOM_TOPO_XML, "/nonexistent/machine.xml", ENOENT, "/nonexistent/machine.xml"},
        {(loom_topo_source_t)9, "x", EINVAL, "unknown"},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        loom_error_t e = {{0}};
        errno = 0;
        assert_null (loom_topo_load (cases[i].source, cases[i].spec, &e));
        assert_int_equal (errno, cases[i].err);
        assert_non_null (strstr (e.text, cases[i].mentions));
    }
}

static void xml_round_trip_and_garbage (void **state)
{
    char path[] = "/tmp/loom-topo-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    close (fd);

    loom_topo_t *t =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:2 numa:1 l3:2 core:3 pu:2", NULL);
    assert_non_null (t);
    assert_int_equal (hwloc_topology_export_xml (loom_topo_hwloc (t), path, 0), 0);
    loom_topo_destroy (t);

    loom_error_t e;
    t = loom_topo_load (LOOM_TOPO_XML, path, &e);
    assert_non_null (t);
    struct loom_topo_counts c;
    loom_topo_counts (t, &c);
    assert_int_equal (c.packages, 2);
    assert_int_equal (c.l3_caches, 4);
    assert_int_equal (c.cores, 12);
    assert_int_equal (c.pus, 24);
    loom_topo_destroy (t);

    FILE *f = fopen (path, "w");
    fputs ("<?xml version=\"1.0\"?>\n<not-a-topology>", f);
    fclose (f);
    errno = 0;
    assert_null (loom_topo_load (LOOM_TOPO_XML, path, &e));
    assert_int_equal (errno, EPROTO);
    assert_non_null (strstr (e.text, path));
    unlink (path);
}

static void local_machine_loads (void **state)
{
    loom_topo_t *t = loom_topo_load (LOOM_TOPO_LOCAL, NULL, NULL);
    assert_non_null (t);
    struct loom_topo_counts c;
    loom_topo_counts (t, &c);
    assert_true (c.pus >= 1);
    assert_true (c.allowed_pus >= 1 && c.allowed_pus <= c.pus);
    assert_int_equal (c.pus, (unsigned)sysconf (_SC_NPROCESSORS_CONF));
    loom_topo_destroy (t);
    loom_topo_destroy (NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (synthetic_counts),
        cmocka_unit_test (text_of_known_topology),
        cmocka_unit_test (numa_listed_under_its_package),
        cmocka_unit_test (restrict_cpuset),
        cmocka_unit_test (json_has_counts),
        cmocka_unit_test (bad_sources),
        cmocka_unit_test (xml_round_trip_and_garbage),
        cmocka_unit_test (local_machine_loads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
