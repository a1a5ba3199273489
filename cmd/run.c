/* SPDX-License-Identifier: MIT */
/* `loom run <app> -n N [app options]`: start the MPI program loom-<app> on N ranks.
 *
 * Inside a Slurm allocation the ranks go to the allocation through srun; elsewhere they
 * start through Open MPI's mpirun on this node. The app's own options pass through
 * unchanged, so `loom run X`, `mpirun loom-X` and `srun loom-X` take the same options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/topo.h>

#include "cmd.h"

static const struct cmd_option options[] = {
    {"np", 1, 'n', "N", "Number of ranks (default 1)"},
    {NULL, 0, 0, NULL, NULL},
};

/* PUs this process may use, to tell whether N ranks oversubscribe the node. */
static unsigned allowed_pus (void)
{
    loom_topo_t *topo = loom_topo_load (LOOM_TOPO_LOCAL, NULL, NULL);
    struct loom_topo_counts c = {.allowed_pus = 1};
    if (topo)
        loom_topo_counts (topo, &c);
    loom_topo_destroy (topo);
    return c.allowed_pus;
}

/* Split our arguments into -n N and everything else, which goes to the app. */
static int parse_np (
    const struct cmd *cmd, int argc, char **argv, long *np, char **rest, int *nrest)
{
    *np = 1;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp (a, "-n") == 0 || strcmp (a, "--np") == 0) {
            if (i + 1 >= argc) {
                cmd_error (cmd, "option '%s' needs a value", a);
                return -1;
            }
            val = argv[++i];
        } else if (strncmp (a, "--np=", 5) == 0) {
            val = a + 5;
        } else if (strncmp (a, "-n", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
            val = a + 2;
        } else {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        if ((*np = cmd_parse_count (cmd, "-n", val)) < 0)
            return -1;
    }
    return 0;
}

int cmd_exec_app (const struct cmd *cmd, const char *app, int argc, char **argv)
{
    char **rest = calloc ((size_t)argc + 1, sizeof (char *));
    char **args = calloc ((size_t)argc + 16, sizeof (char *));
    char *path = NULL;
    int nrest, n = 0;
    long np;
    if (!rest || !args) {
        cmd_error (cmd, "out of memory");
        goto error;
    }
    if (parse_np (cmd, argc, argv, &np, rest, &nrest) < 0)
        goto error;
    if (!(path = cmd_find_program (app))) {
        cmd_error (cmd, "no app '%s' (no loom-%s beside loom or on PATH)", app, app);
        goto error;
    }

    char npbuf[32];
    snprintf (npbuf, sizeof (npbuf), "%ld", np);
    const char *engine;
    if (getenv ("SLURM_JOB_ID")) {
        engine = "srun";
        args[n++] = "srun";
        args[n++] = "--mpi=pmix";
        args[n++] = "-n";
        args[n++] = npbuf;
    } else {
        engine = "mpirun";
        args[n++] = "mpirun";
        /* Apps print their own one-line errors; without -q mpirun adds a 10-line
         * banner for every non-zero exit.
         */
        args[n++] = "-q";
        args[n++] = "-np";
        args[n++] = npbuf;
        if ((unsigned long)np > allowed_pus ()) {
            /* More ranks than PUs: let them share, and make idle ranks yield the CPU
             * instead of busy-polling (10-30x slower otherwise).
             */
            args[n++] = "--oversubscribe";
            setenv ("OMPI_MCA_mpi_yield_when_idle", "1", 0);
        }
        if (geteuid () == 0) {
            /* The user asked to run as root; mpirun refuses unless told twice. */
            setenv ("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
            setenv ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
        }
    }
    args[n++] = path;
    for (int i = 0; i < nrest; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    fflush (stdout);
    execvp (engine, args);
    cmd_error (cmd, "cannot run %s: %s", engine, strerror (errno));
error:
    free (path);
    free (rest);
    free (args);
    return 1;
}

static int run_main (const struct cmd *cmd, int argc, char **argv)
{
    if (argc < 2) {
        cmd_error (cmd, "which app? (usage: loom run <app> -n N [options])");
        return 1;
    }
    const char *app = argv[1];
    if (strcmp (app, "--help") == 0 || strcmp (app, "-h") == 0) {
        cmd_help (cmd, stdout);
        return 0;
    }
    if (app[0] == '-')
        return cmd_error (cmd,
                          "the app name comes first: loom run <app> -n N [options]");
    return cmd_exec_app (cmd, app, argc - 2, argv + 2);
}

const struct cmd cmd_run = {
    .name = "run",
    .usage = "<app> -n N [app options]",
    .summary = "Run the Loom app loom-<app> on N ranks",
    .fn = run_main,
    .options = options,
    .description =
        "Starts the MPI program loom-<app> on N ranks: through srun inside a Slurm\n"
        "allocation, otherwise through mpirun on this node. Options other than -n\n"
        "go to the app unchanged; 'loom-<app> --help' lists them.",
};
