/* SPDX-License-Identifier: MIT */
/* Tasks whose slots the policy core placed on several nodes.
 *
 * Such a task is one process tree spread over hosts, so no single agent can run it:
 * the head hands it to an engine that already crosses hosts, Open MPI's mpirun,
 * through the launcher (loom::launch), exactly as `loom launch --hostfile` does. The
 * placement is computed on the granted cores of each node (the PUs its agent
 * reported) with one rank per slot, and goes to mpirun as a rankfile of physical PU
 * indexes, so every rank is bound to the cores it was granted. mpirun reaches the
 * other hosts through Slurm inside an allocation, else through its rsh agent (ssh,
 * or loomd's --rsh-agent). Its output streams to the head as the ranks write it.
 *
 * The placement reads the head's topology for every node, as `loom launch --hostfile`
 * does: the nodes of one allocation are alike. A node whose PUs the head's topology
 * does not have makes the placement fail, and the task with it, saying so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/launch.h>

#include "loomd.h"

struct loom_node *loomd_span_nodes (struct loomd *d, const struct loom__task *t)
{
    const struct loom__alloc *a = t->alloc;
    uint32_t cps = t->job->cores_per_slot ? t->job->cores_per_slot : 1;
    struct loom_node *nodes = calloc (a->nparts, sizeof (*nodes));
    if (!nodes)
        return NULL;
    for (uint32_t i = 0; i < a->nparts; i++) {
        const struct loom__alloc_part *p = &a->parts[i];
        nodes[i].name = d->core->nodes[p->node]->name;
        nodes[i].topo = d->topo;
        nodes[i].cpuset = loomd_mask_list (loomd_node_of (d, p->node), p->mask, 1);
        nodes[i].slots = p->ncores / cps;
        if (!nodes[i].cpuset) {
            loomd_span_nodes_free (nodes, a->nparts);
            return NULL;
        }
    }
    return nodes;
}

void loomd_span_nodes_free (struct loom_node *nodes, uint32_t n)
{
    for (uint32_t i = 0; nodes && i < n; i++)
        free ((char *)nodes[i].cpuset);
    free (nodes);
}

char *loomd_span_where (struct loomd *d, const struct loom__task *t, int pus)
{
    const struct loom__alloc *a = t->alloc;
    char *s = strdup ("");
    for (uint32_t i = 0; s && i < a->nparts; i++) {
        const struct loom__alloc_part *p = &a->parts[i];
        char *list = loomd_mask_list (loomd_node_of (d, p->node), p->mask, pus), *n;
        if (!list
            || asprintf (&n, "%s%s%s:%s", s, i ? " " : "",
                         d->core->nodes[p->node]->name, list)
                   < 0)
            n = NULL;
        free (list);
        free (s);
        s = n;
    }
    return s;
}

int loomd_span_uses_node (const struct loom__task *t, uint32_t node)
{
    for (uint32_t i = 0; t->alloc && i < t->alloc->nparts; i++)
        if (t->alloc->parts[i].node == node)
            return 1;
    return 0;
}
