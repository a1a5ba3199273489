/* SPDX-License-Identifier: MIT */
/* `loom ds recompute`: rebuild missing or corrupt partitions by rerunning the
 * producer recorded in the lineage (the contract is in docs/datasets.md):
 *   narrow: <argv> --repair-partitions LIST   rewrites only the bad partitions;
 *   wide:   <argv>                            rewrites the whole dataset.
 * Then every partition is verified and the rebuilt ones compared with the checksums
 * recorded before: a deterministic producer gives bit-identical partitions.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ds.h"

enum { OPT_LAUNCH = 256, OPT_FORCE };

static const struct cmd_option options[] = {
    {"partitions", 1, 'p', "LIST",
     "Recompute these partitions (e.g. 3,5-7) instead of the bad ones"},
    {"launch", 1, OPT_LAUNCH, "CMD",
     "Run the producer under CMD, e.g. \"mpirun -np 4\" (default: one process)"},
    {"force", 0, OPT_FORCE, NULL, "Recompute even if an input changed since"},
    {"dry-run", 0, 'n', NULL, "Print the command that would run, and stop"},
    {NULL, 0, 0, NULL, NULL},
};

/* Resolve a producer program name the way `loom <app>` does: beside loom first. */
static char *resolve (const char *prog)
{
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (len <= 0)
        return strdup (prog);
    self[len] = '\0';
    if (strcmp (prog, "loom") == 0)
        return strdup (self);
    if (strchr (prog, '/'))
        return strdup (prog);
    char *slash = strrchr (self, '/');
    if (slash) {
        char *p;
        if (asprintf (&p, "%.*s/%s", (int)(slash - self), self, prog) >= 0) {
            if (access (p, X_OK) == 0)
                return p;
            free (p);
        }
    }
    return strdup (prog); /* execvp searches PATH */
}

static int run (const struct cmd *cmd, char **argv, const char *cwd)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0)
        return cmd_error (cmd, "fork: %s", strerror (errno));
    if (pid == 0) {
        if (cwd && chdir (cwd) < 0) {
            fprintf (stderr, "loom: ds recompute: %s: %s\n", cwd, strerror (errno));
            _exit (127);
        }
        execvp (argv[0], argv);
        fprintf (stderr, "loom: ds recompute: cannot run %s: %s\n", argv[0],
                 strerror (errno));
        _exit (127);
    }
    int status;
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return cmd_error (cmd, "waitpid: %s", strerror (errno));
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return 0;
    if (WIFSIGNALED (status))
        return cmd_error (cmd, "the producer %s was killed by signal %d", argv[0],
                          WTERMSIG (status));
    return cmd_error (cmd, "the producer %s failed (exit %d)", argv[0],
                      WEXITSTATUS (status));
}

/* Refuse to recompute from inputs that changed: the result could not match. */
static int inputs_unchanged (const struct cmd *cmd, json_t *lin, const char *cwd)
{
    size_t i;
    json_t *in;
    json_array_foreach (json_object_get (lin, "inputs"), i, in)
    {
        const char *path = json_string_value (json_object_get (in, "realpath"));
        if (!path)
            path = json_string_value (json_object_get (in, "path"));
        const char *want = json_string_value (json_object_get (in, "checksum"));
        if (!path || !want)
            continue;
        char full[PATH_MAX * 2];
        if (path[0] != '/' && cwd)
            snprintf (full, sizeof (full), "%s/%s", cwd, path);
        else
            snprintf (full, sizeof (full), "%s", path);
        loom_error_t err;
        loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, full, NULL, &err);
        if (!ds)
            return cmd_error (cmd, "input %s", err.text);
        char have[17];
        snprintf (have, sizeof (have), "%016" PRIx64, loom_ds_checksum (ds));
        loom_ds_close (ds);
        if (strcmp (have, want) != 0)
            return cmd_error (
                cmd,
                "input %s changed since the dataset was made (checksum %s, "
                "recorded %s); use --force to recompute anyway",
                full, have, want);
    }
    return 0;
}

static int recompute_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *arg, *list = NULL, *launch = NULL;
    int force = 0, dry = 0, c, rc = 1;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 'p':
            list = arg;
            break;
        case OPT_LAUNCH:
            launch = arg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case 'n':
            dry = 1;
            break;
        default:
            return 1;
        }
    }
    if (optind != argc - 1)
        return cmd_error (cmd, "give one dataset (see 'loom ds recompute --help')");
    const char *path = argv[optind];
    loom_ds_t *ds = ds_open_or_complain (cmd, path, NULL);
    if (!ds)
        return 1;
    uint32_t nparts = loom_ds_nparts (ds);
    uint64_t *old = malloc (nparts * sizeof (*old));
    char *badlist = NULL, **cmdv = NULL, *launch_copy = NULL;
    json_t *lin = json_loads (loom_ds_lineage_json (ds), JSON_DECODE_ANY, NULL);
    for (uint32_t i = 0; old && i < nparts; i++)
        old[i] = loom_ds_part_checksum (ds, i);
    loom_ds_close (ds);
    if (!old) {
        cmd_error (cmd, "out of memory");
        goto out;
    }
    json_t *jargv = json_object_get (lin, "argv");
    const char *dep = json_string_value (json_object_get (lin, "dependency"));
    const char *cwd = json_string_value (json_object_get (lin, "cwd"));
    if (!json_is_array (jargv) || json_array_size (jargv) == 0 || !dep) {
        cmd_error (cmd, "%s: no producer command recorded in its lineage", path);
        goto out;
    }
    if (cwd) {
        struct stat st;
        if (stat (cwd, &st) < 0)
            cwd = NULL; /* moved elsewhere: paths in argv may still be absolute */
    }
    int narrow = strcmp (dep, "narrow") == 0;
    if (list) {
        badlist = strdup (list);
    } else {
        loom_error_t err;
        uint32_t *bad = NULL;
        size_t nbad = 0;
        if (loom_ds_verify (path, -1, &bad, &nbad, &err) < 0) {
            cmd_error (cmd, "%s", err.text);
            goto out;
        }
        if (nbad == 0) {
            printf ("%s: all %u partitions verify; nothing to recompute\n", path,
                    nparts);
            free (bad);
            rc = 0;
            goto out;
        }
        badlist = calloc (nbad, 12);
        for (size_t i = 0; badlist && i < nbad; i++)
            sprintf (badlist + strlen (badlist), "%s%u", i ? "," : "", bad[i]);
        free (bad);
    }
    if (!badlist) {
        cmd_error (cmd, "out of memory");
        goto out;
    }
    if (!force && inputs_unchanged (cmd, lin, cwd) != 0)
        goto out;

    /* Build: [launch words] argv... [--repair-partitions LIST] */
    size_t n = 0, cap = json_array_size (jargv) + 4;
    if (launch) {
        launch_copy = strdup (launch);
        for (const char *p = launch; *p; p++)
            cap += *p == ' ';
    }
    cmdv = calloc (cap + 1, sizeof (*cmdv));
    if (!cmdv) {
        cmd_error (cmd, "out of memory");
        goto out;
    }
    char *save = NULL;
    for (char *w = launch_copy ? strtok_r (launch_copy, " ", &save) : NULL; w;
         w = strtok_r (NULL, " ", &save))
        cmdv[n++] = strdup (w);
    size_t i;
    json_t *a;
    json_array_foreach (jargv, i, a)
    {
        const char *s = json_string_value (a);
        cmdv[n++] = i == 0 ? resolve (s ? s : "") : strdup (s ? s : "");
    }
    if (narrow) {
        cmdv[n++] = strdup ("--repair-partitions");
        cmdv[n++] = strdup (badlist);
    }
    printf ("%s: bad partition%s %s; %s\n", path,
            strchr (badlist, ',') || strchr (badlist, '-') ? "s" : "", badlist,
            narrow ? "narrow lineage: rebuilding only those"
                   : "wide lineage: rebuilding the whole dataset");
    printf ("running:");
    for (size_t k = 0; k < n; k++)
        printf (" %s", cmdv[k]);
    if (cwd)
        printf ("   (in %s)", cwd);
    printf ("\n");
    if (dry) {
        rc = 0;
        goto out;
    }
    if (run (cmd, cmdv, cwd) != 0)
        goto out;

    /* Check the result: everything verifies, and rebuilt partitions match. */
    loom_error_t err;
    uint32_t *bad = NULL;
    size_t nbad = 0;
    if (loom_ds_verify (path, -1, &bad, &nbad, &err) != 0) {
        free (bad);
        cmd_error (cmd, "after recompute: %s", err.text);
        goto out;
    }
    free (bad);
    ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    if (!ds || loom_ds_nparts (ds) != nparts) {
        cmd_error (cmd, "after recompute: %s",
                   ds ? "the partition count changed" : err.text);
        loom_ds_close (ds);
        goto out;
    }
    size_t same = 0, differ = 0;
    int first_diff = -1;
    for (uint32_t p = 0; p < nparts; p++) {
        if (loom_ds_part_checksum (ds, p) == old[p])
            same++;
        else if (differ++ == 0)
            first_diff = (int)p;
    }
    loom_ds_close (ds);
    if (differ) {
        cmd_error (
            cmd,
            "%s: recomputed, but partition %d differs from the recorded checksum "
            "(%zu partitions differ: is the producer deterministic?)",
            path, first_diff, differ);
        goto out;
    }
    printf ("%s: ok: all %u partitions verify; recomputed data is bit-identical to the "
            "recorded checksums\n",
            path, nparts);
    rc = 0;
out:
    if (cmdv)
        for (size_t k = 0; cmdv[k]; k++)
            free (cmdv[k]);
    free (cmdv);
    free (launch_copy);
    free (badlist);
    free (old);
    json_decref (lin);
    return rc;
}

const struct cmd cmd_ds_recompute = {
    .name = "ds recompute",
    .usage = "[--partitions LIST] [--launch CMD] [--force] [--dry-run] DATASET",
    .summary =
        "Rebuild missing or corrupt partitions by rerunning the recorded producer",
    .fn = recompute_main,
    .options = options,
    .description =
        "Finds the bad partitions with 'verify' (or takes --partitions), checks that\n"
        "the inputs recorded in the lineage are unchanged, reruns the producer from\n"
        "its recorded directory (narrow: with --repair-partitions LIST; wide: the\n"
        "whole command), then verifies and compares with the recorded checksums.",
};
