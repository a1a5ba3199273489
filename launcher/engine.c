/* SPDX-License-Identifier: MIT */
/* Handing a multi-node placement to an existing engine.
 *
 * mpirun: a rankfile names each rank's host and its PUs by OS index
 * (rmaps_rank_file_physical), so Open MPI binds exactly where the placement says.
 * srun: an arbitrary distribution (SLURM_HOSTFILE, one host per rank) and
 * --cpu-bind=mask_cpu masks per local task. srun applies one mask list to every node,
 * so nodes whose local ranks are bound differently cannot be expressed: that is an
 * error rather than a silently different binding.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/error.h>

#include "launch_int.h"
#include "placement_int.h"

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

void loom__argv_free (char **argv)
{
    for (char **a = argv; a && *a; a++)
        free (*a);
    free (argv);
}

struct args {
    char **v;
    size_t n, cap;
    int failed;
};

static void add (struct args *a, const char *s)
{
    if (a->failed)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc (a->v, cap * sizeof (char *));
        if (!v) {
            a->failed = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = strdup (s))) {
        a->failed = 1;
        return;
    }
    a->v[++a->n] = NULL;
}

static int write_rankfile (loom_launch_job_t *job,
                           const loom_placement_t *pl,
                           const char *file,
                           loom_error_t *error)
{
    FILE *f = fopen (file, "w");
    if (!f)
        return loom_errprintf (error, "cannot write %s: %s", file, strerror (errno));
    for (int r = 0; r < pl->size; r++) {
        char list[1024];
        hwloc_bitmap_list_snprintf (list, sizeof (list), pl->ranks[r].binding);
        fprintf (f, "rank %d=%s slot=%s\n", r, pl->nodes[pl->ranks[r].node].name, list);
    }
    if (fclose (f) != 0)
        return loom_errprintf (error, "cannot write %s: %s", file, strerror (errno));
    return 0;
}

static int mpirun_args (loom_launch_job_t *job,
                        const loom_placement_t *pl,
                        struct args *a,
                        char ***env,
                        loom_error_t *error)
{
    char file[4096], np[32];
    snprintf (file, sizeof (file), "%s/rankfile", job->dir);
    if (write_rankfile (job, pl, file, error) < 0)
        return -1;
    snprintf (np, sizeof (np), "%d", pl->size);
    add (a, job->l->mpirun);
    add (a, "-np");
    add (a, np);
    add (a, "--rankfile");
    add (a, file);
    add (a, "--mca");
    add (a, "rmaps_rank_file_physical");
    add (a, "1");
    if (pl->policy.bind == LOOM__LVL_NONE) {
        add (a, "--bind-to");
        add (a, "none");
    }
    if (pl->oversubscribed)
        add (a, "--oversubscribe");
    /* Output captured line by line: each line says its rank (io_forward.c). */
    if (job->p.output)
        add (a, "--tag-output");
    if (job->l->rsh_agent) {
        add (a, "--mca");
        add (a, "plm_rsh_agent");
        add (a, job->l->rsh_agent);
    }
    /* Ranks get the job id as direct-launched ranks do (their rank is in
     * OMPI_COMM_WORLD_RANK).
     */
    if (loom__env_set (env, "LOOM_JOB", job->id) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    add (a, "-x");
    add (a, "LOOM_JOB");
    /* The job's extra environment is for every rank: ranks on other hosts get only
     * what mpirun exports (-x), not mpirun's own environment.
     */
    for (char *const *e = job->p.env; e && *e; e++) {
        size_t n = strcspn (*e, "=");
        if (!(*e)[n] || n == 0 || n >= 256 || strspn (*e, NAME_CHARS) != n
            || (**e >= '0' && **e <= '9'))
            continue; /* not a name mpirun takes (e.g. BASH_FUNC_f%%) */
        char name[256];
        memcpy (name, *e, n);
        name[n] = '\0';
        add (a, "-x");
        add (a, name);
    }
    if (geteuid () == 0
        && (loom__env_set (env, "OMPI_ALLOW_RUN_AS_ROOT", "1") < 0
            || loom__env_set (env, "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1") < 0))
        return loom_errset (error, ENOMEM, "out of memory");
    return 0;
}

static int srun_args (loom_launch_job_t *job,
                      const loom_placement_t *pl,
                      struct args *a,
                      char ***env,
                      loom_error_t *error)
{
    char file[4096], np[32], *masks = NULL;
    size_t mlen = 0;
    snprintf (file, sizeof (file), "%s/hostfile", job->dir);
    FILE *f = fopen (file, "w");
    if (!f)
        return loom_errprintf (error, "cannot write %s: %s", file, strerror (errno));
    for (int r = 0; r < pl->size; r++)
        fprintf (f, "%s\n", pl->nodes[pl->ranks[r].node].name);
    fclose (f);
    /* Masks by local rank, which must agree across nodes. */
    int maxlocal = 0;
    for (int r = 0; r < pl->size; r++)
        if (pl->ranks[r].local_rank + 1 > maxlocal)
            maxlocal = pl->ranks[r].local_rank + 1;
    for (int lr = 0; lr < maxlocal && pl->policy.bind != LOOM__LVL_NONE; lr++) {
        hwloc_const_bitmap_t want = NULL;
        for (int r = 0; r < pl->size; r++) {
            if (pl->ranks[r].local_rank != lr)
                continue;
            if (!want)
                want = pl->ranks[r].binding;
            else if (!hwloc_bitmap_isequal (want, pl->ranks[r].binding)) {
                free (masks);
                return loom_errset (error, EINVAL,
                                    "srun cannot bind local rank %d differently on "
                                    "different nodes; use the same cpuset on every "
                                    "node or --bind-to none",
                                    lr);
            }
        }
        char *hex = NULL; /* taskset format: one hex number, as srun wants */
        if (hwloc_bitmap_taskset_asprintf (&hex, want) < 0) {
            free (masks);
            return loom_errset (error, ENOMEM, "out of memory");
        }
        char *grown = realloc (masks, mlen + strlen (hex) + 2);
        if (!grown) {
            free (hex);
            free (masks);
            return loom_errset (error, ENOMEM, "out of memory");
        }
        masks = grown;
        if (lr)
            masks[mlen++] = ',';
        memcpy (masks + mlen, hex, strlen (hex));
        mlen += strlen (hex);
        masks[mlen] = '\0';
        free (hex);
    }
    snprintf (np, sizeof (np), "%d", pl->size);
    add (a, job->l->srun);
    add (a, "--mpi=pmix");
    add (a, "-n");
    add (a, np);
    add (a, "--distribution=arbitrary");
    if (masks) {
        char *opt;
        if (asprintf (&opt, "--cpu-bind=mask_cpu:%s", masks) < 0)
            opt = NULL;
        if (opt)
            add (a, opt);
        else
            a->failed = 1;
        free (opt);
    } else {
        add (a, "--cpu-bind=none");
    }
    if (pl->oversubscribed)
        add (a, "--overcommit");
    free (masks);
    if (loom__env_set (env, "SLURM_HOSTFILE", file) < 0
        || loom__env_set (env, "LOOM_JOB", job->id) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    return 0;
}

char **loom__engine_argv (loom_launch_job_t *job,
                          const loom_placement_t *pl,
                          loom_launch_engine_t engine,
                          const char *path,
                          char *const *argv,
                          char ***env,
                          loom_error_t *error)
{
    struct args a = {0};
    int rc = engine == LOOM_ENGINE_SRUN ? srun_args (job, pl, &a, env, error)
                                        : mpirun_args (job, pl, &a, env, error);
    if (rc < 0) {
        loom__argv_free (a.v);
        return NULL;
    }
    add (&a, path);
    for (int i = 1; argv[i]; i++)
        add (&a, argv[i]);
    if (a.failed) {
        loom__argv_free (a.v);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    return a.v;
}
