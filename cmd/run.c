/* SPDX-License-Identifier: MIT */
/* `loom run <app> -n N [app options]`: start the MPI program loom-<app> on N ranks.
 *
 * The launcher starts the ranks: on this node directly as their PMIx server (no
 * mpirun), inside a Slurm allocation on the allocation through srun. The app's own
 * options pass through unchanged, so `loom run X`, `mpirun loom-X` and `srun loom-X`
 * take the same options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/topo.h>

#include "cmd.h"
#include "launch_cmd.h"

static const struct cmd_option options[] = {
    {"np", 1, 'n', "N", "Number of ranks (default 1)"},
    {"trace", 1, 't', "PREFIX",
     "Trace the job (LOOM_TRACE=PREFIX); merged into PREFIX.trace at its end"},
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

/* Split our arguments into -n N, --trace PREFIX and everything else, which goes to
 * the app.
 */
static int parse_np (const struct cmd *cmd,
                     int argc,
                     char **argv,
                     long *np,
                     const char **trace,
                     char **rest,
                     int *nrest)
{
    *np = 1;
    *nrest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp (a, "--trace") == 0 || strncmp (a, "--trace=", 8) == 0) {
            if (a[7] == '=') {
                *trace = a + 8;
            } else if (i + 1 < argc) {
                *trace = argv[++i];
            } else {
                cmd_error (cmd, "option '%s' needs a value", a);
                return -1;
            }
            if (!**trace) {
                cmd_error (cmd, "--trace needs a path prefix");
                return -1;
            }
            continue;
        }
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
    const char *trace = NULL;
    if (!rest || !args) {
        cmd_error (cmd, "out of memory");
        goto error;
    }
    if (parse_np (cmd, argc, argv, &np, &trace, rest, &nrest) < 0)
        goto error;
    /* The ranks' stderr is a pipe to the launcher: tell them the user's is a
     * terminal, so apps can show a progress line (they check LOOM_TTY).
     */
    if (isatty (STDERR_FILENO))
        setenv ("LOOM_TTY", "1", 0);
    if (!(path = cmd_find_program (app))) {
        cmd_error (cmd, "no app '%s' (no loom-%s beside loom or on PATH)", app, app);
        goto error;
    }

    /* The launcher places and starts the ranks: directly as their PMIx server on
     * this node, through srun on a Slurm allocation. More ranks than PUs share them
     * rather than fail, as `mpirun --oversubscribe` would.
     */
    struct launch_opts o = LAUNCH_OPTS_INIT;
    o.pp.nprocs = (int)np;
    o.pp.oversubscribe = (unsigned long)np > allowed_pus ();
    o.trace = trace;
    args[n++] = path;
    for (int i = 0; i < nrest; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    fflush (stdout);
    int rc = launch_run (cmd, &o, args);
    free (path);
    free (rest);
    free (args);
    return rc;
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
        "Starts the MPI program loom-<app> on N ranks with the launcher (see 'loom\n"
        "launch'): directly on this node, through srun inside a Slurm allocation.\n"
        "Options other than -n and --trace go to the app unchanged; 'loom-<app>\n"
        "--help' lists them.",
};
