/* SPDX-License-Identifier: MIT */
/* The launcher as PMIx server of the jobs it starts on this node.
 *
 * PMIx calls our upcalls on its own progress thread. They never touch jobs: they queue
 * an event and wake loom_launch_progress() through an eventfd, which handles it on the
 * caller's thread. The 'log' upcall must not complete inside the upcall (PMIx 4.2.2
 * holds a lock there and deadlocks), so its callback is called from the drain.
 *
 * Every wait for PMIx on the caller's thread is bounded (OP_TIMEOUT_SEC): a stuck
 * progress thread gets a warning and is not asked again, it does not hang the caller.
 *
 * Info given to each job is what Open MPI 4.1 reads when direct-launched: node and
 * proc maps, per-proc ranks, locality and cpuset, the topology as XML (saves each rank
 * its own hwloc discovery), and tmpdir/nsdir under our private directory (else Open
 * MPI leaves /tmp/ompi.<host>.<uid>/ behind).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pmix.h>
#include <pmix_server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/log.h>
#include <loom/trace.h>

#include "launch_int.h"
#include "placement_int.h"

static loom_launch_t *server; /* PMIx allows one server per process */

/* How long the caller's thread waits for PMIx to complete a call. Each is a hop to
 * PMIx's progress thread and back (well under a millisecond); one that takes this long
 * means the thread is stuck, and waiting longer would hang the launcher with it.
 */
#define OP_TIMEOUT_SEC 5

/* Completion of an asynchronous PMIx call, waited for on the caller's thread for at
 * most OP_TIMEOUT_SEC. On the heap with two references (waiter, callback): a call
 * given up on may still complete later.
 */
struct op_wait {
    pthread_mutex_t m;
    pthread_cond_t c;
    int done, refs;
    pmix_status_t status;
};

static struct op_wait *op_new (void)
{
    struct op_wait *w = calloc (1, sizeof (*w));
    pthread_condattr_t ca;
    if (!w)
        return NULL;
    pthread_mutex_init (&w->m, NULL);
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&w->c, &ca);
    pthread_condattr_destroy (&ca);
    w->refs = 2;
    return w;
}

static void op_put (struct op_wait *w)
{
    pthread_mutex_lock (&w->m);
    int left = --w->refs;
    pthread_mutex_unlock (&w->m);
    if (left == 0) {
        pthread_mutex_destroy (&w->m);
        pthread_cond_destroy (&w->c);
        free (w);
    }
}

static void op_done (pmix_status_t status, void *cbdata)
{
    struct op_wait *w = cbdata;
    pthread_mutex_lock (&w->m);
    w->status = status;
    w->done = 1;
    pthread_cond_signal (&w->c);
    pthread_mutex_unlock (&w->m);
    op_put (w);
}

/* Say once that PMIx stopped answering, and stop asking it anything that waits. */
static void pmix_stuck (loom_launch_t *l, const char *what)
{
    if (!l->pmix_stuck)
        loom_warn ("launch: the PMIx server did not complete %s within %d s: its "
                   "progress thread is stuck; not waiting for it any more",
                   what, OP_TIMEOUT_SEC);
    l->pmix_stuck = 1;
}

/* Wait for the call started with 'w' that returned 'rc', until 'deadline' (CLOCK_
 * MONOTONIC). Gives w up in every case. PMIX_ERR_TIMEOUT when PMIx did not answer.
 */
static pmix_status_t op_finish (struct op_wait *w,
                                pmix_status_t rc,
                                const struct timespec *deadline,
                                loom_launch_t *l,
                                const char *what)
{
    if (rc != PMIX_SUCCESS) {
        op_put (w); /* no callback will come */
        op_put (w);
        return rc == PMIX_OPERATION_SUCCEEDED ? PMIX_SUCCESS : rc;
    }
    pthread_mutex_lock (&w->m);
    int err = 0;
    while (!w->done && err != ETIMEDOUT)
        err = pthread_cond_timedwait (&w->c, &w->m, deadline);
    rc = w->done ? w->status : PMIX_ERR_TIMEOUT;
    pthread_mutex_unlock (&w->m);
    op_put (w);
    if (rc == PMIX_ERR_TIMEOUT)
        pmix_stuck (l, what);
    return rc;
}

static struct timespec op_deadline (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    t.tv_sec += OP_TIMEOUT_SEC;
    return t;
}

/* ---- upcalls (PMIx progress thread) ---------------------------------------------- */

static void queue_event (struct pmix_event *ev)
{
    loom_launch_t *l = server;
    uint64_t one = 1;
    if (!l) { /* a finalize that timed out: nobody is listening any more */
        free (ev->text);
        free (ev);
        return;
    }
    pthread_mutex_lock (&l->lock);
    *l->events_tail = ev;
    l->events_tail = &ev->next;
    pthread_mutex_unlock (&l->lock);
    if (write (l->evfd, &one, sizeof (one)) < 0) {
        /* The counter cannot overflow in practice; the event stays queued anyway. */
    }
}

static struct pmix_event *new_event (int type, const pmix_proc_t *p)
{
    struct pmix_event *ev = calloc (1, sizeof (*ev));
    if (!ev)
        return NULL;
    ev->type = type;
    snprintf (ev->nspace, sizeof (ev->nspace), "%s", p->nspace);
    ev->rank = p->rank == PMIX_RANK_WILDCARD ? -1 : (int)p->rank;
    return ev;
}

static pmix_status_t up_abort (const pmix_proc_t *p,
                               void *server_object,
                               int status,
                               const char msg[],
                               pmix_proc_t procs[],
                               size_t nprocs,
                               pmix_op_cbfunc_t cbfunc,
                               void *cbdata)
{
    struct pmix_event *ev = new_event (PEV_ABORT, p);
    if (ev) {
        ev->status = status;
        ev->text = msg ? strdup (msg) : NULL;
        queue_event (ev);
    }
    /* The event is queued before the rank can go on and exit, so the abort status
     * is known before its exit is seen. Done here and now: PMIX_OPERATION_SUCCEEDED
     * tells PMIx so, and it must not be called back (calling cbfunc from inside the
     * upcall re-entered PMIx's progress thread).
     */
    (void)cbfunc;
    (void)cbdata;
    return PMIX_OPERATION_SUCCEEDED;
}

/* Text of a log datum: strings as they are, byte objects (Open MPI packs its
 * show_help text) reduced to their printable runs.
 */
static char *log_text (const pmix_value_t *v)
{
    if (v->type == PMIX_STRING && v->data.string)
        return strdup (v->data.string);
    if (v->type != PMIX_BYTE_OBJECT || !v->data.bo.bytes)
        return NULL;
    char *s = malloc (v->data.bo.size + 1);
    size_t n = 0;
    if (!s)
        return NULL;
    for (size_t i = 0; i < v->data.bo.size; i++) {
        unsigned char c = (unsigned char)v->data.bo.bytes[i];
        if (c == '\n' || (c >= 32 && c < 127))
            s[n++] = (char)c;
        else if (n > 0 && s[n - 1] != ' ' && s[n - 1] != '\n')
            s[n++] = ' ';
    }
    s[n] = '\0';
    return s;
}

static void up_log (const pmix_proc_t *p,
                    const pmix_info_t data[],
                    size_t ndata,
                    const pmix_info_t directives[],
                    size_t ndirs,
                    pmix_op_cbfunc_t cbfunc,
                    void *cbdata)
{
    struct pmix_event *ev = new_event (PEV_LOG, p);
    if (!ev) {
        /* Without memory the call cannot be deferred, and completing it here would
         * deadlock: the client's log call stays pending until its job ends.
         */
        return;
    }
    size_t len = 0;
    for (size_t i = 0; i < ndata; i++) {
        char *t = log_text (&data[i].value);
        if (!t)
            continue;
        size_t tl = strlen (t);
        char *joined = realloc (ev->text, len + tl + 2);
        if (joined) {
            ev->text = joined;
            memcpy (ev->text + len, t, tl);
            len += tl;
            ev->text[len++] = '\n';
            ev->text[len] = '\0';
        }
        free (t);
    }
    ev->cbfunc = cbfunc;
    ev->cbdata = cbdata;
    queue_event (ev);
}

static pmix_status_t
up_ok (const pmix_proc_t *p, void *server_object, pmix_op_cbfunc_t cbfunc, void *cbdata)
{
    if (cbfunc)
        cbfunc (PMIX_SUCCESS, cbdata);
    return PMIX_SUCCESS;
}

static void free_blob (void *cbdata)
{
    free (cbdata);
}

/* One node: libpmix has already combined the local contributions into 'data'; with
 * no other server to exchange with, hand back a copy (the library owns 'data').
 */
static pmix_status_t up_fence (const pmix_proc_t procs[],
                               size_t nprocs,
                               const pmix_info_t info[],
                               size_t ninfo,
                               char *data,
                               size_t ndata,
                               pmix_modex_cbfunc_t cbfunc,
                               void *cbdata)
{
    char *copy = NULL;
    if (ndata) {
        if (!(copy = malloc (ndata)))
            return PMIX_ERR_NOMEM;
        memcpy (copy, data, ndata);
    }
    cbfunc (PMIX_SUCCESS, copy, ndata, cbdata, free_blob, copy);
    return PMIX_SUCCESS;
}

static pmix_status_t up_dmodex (const pmix_proc_t *proc,
                                const pmix_info_t info[],
                                size_t ninfo,
                                pmix_modex_cbfunc_t cbfunc,
                                void *cbdata)
{
    return PMIX_ERR_NOT_FOUND; /* every proc is local: nothing to fetch */
}

static pmix_server_module_t module = {
    .client_connected = up_ok,
    .client_finalized = up_ok,
    .abort = up_abort,
    .fence_nb = up_fence,
    .direct_modex = up_dmodex,
    .log = up_log,
};

/* ---- caller's thread --------------------------------------------------------------
 */

void loom__pmix_drain (loom_launch_t *l)
{
    uint64_t count;
    if (read (l->evfd, &count, sizeof (count)) < 0) {
        /* EAGAIN: nothing signalled; the queue is looked at anyway. */
    }
    pthread_mutex_lock (&l->lock);
    struct pmix_event *ev = l->events;
    l->events = NULL;
    l->events_tail = &l->events;
    pthread_mutex_unlock (&l->lock);
    while (ev) {
        struct pmix_event *next = ev->next;
        if (ev->type == PEV_ABORT)
            loom__job_abort (l, ev->nspace, ev->rank, ev->status, ev->text);
        else
            loom__job_log (l, ev->nspace, ev->rank, ev->text);
        if (ev->cbfunc)
            ev->cbfunc (PMIX_SUCCESS, ev->cbdata);
        free (ev->text);
        free (ev);
        ev = next;
    }
}

/* A growable pmix_info_t array. */
struct infolist {
    pmix_info_t *a;
    size_t n, cap;
    int failed;
    int keep; /* handed to a PMIx call that never completed: leaked, not freed */
};

static pmix_info_t *il_next (struct infolist *il)
{
    if (il->n == il->cap) {
        size_t cap = il->cap ? il->cap * 2 : 32;
        pmix_info_t *a = realloc (il->a, cap * sizeof (*a));
        if (!a) {
            il->failed = 1;
            return NULL;
        }
        il->a = a;
        il->cap = cap;
    }
    pmix_info_t *i = &il->a[il->n++];
    PMIX_INFO_CONSTRUCT (i);
    return i;
}

static void
il_add (struct infolist *il, const char *key, const void *val, pmix_data_type_t type)
{
    pmix_info_t *i = il_next (il);
    if (i)
        PMIX_INFO_LOAD (i, key, val, type);
}

static void il_free (struct infolist *il)
{
    if (il->keep)
        return;
    for (size_t i = 0; i < il->n; i++) {
        /* A PMIX_TOPO value points at our topology (PMIx does not copy it):
         * destructing it would destroy the topology under everyone's feet.
         */
        if (il->a[i].value.type == PMIX_TOPO)
            continue;
        PMIX_INFO_DESTRUCT (&il->a[i]);
    }
    free (il->a);
}

int loom__pmix_init (loom_launch_t *l, loom_error_t *error)
{
    if (server)
        return loom_errset (error, EBUSY, "a launcher already runs in this process");
    struct infolist il = {0};
    pmix_topology_t topo = {.source = "hwloc", .topology = l->topo};
    il_add (&il, PMIX_SERVER_TMPDIR, l->dir, PMIX_STRING);
    il_add (&il, PMIX_SYSTEM_TMPDIR, l->dir, PMIX_STRING);
    /* Our topology, so the server does not discover it again (~10 ms). */
    il_add (&il, PMIX_TOPOLOGY2, &topo, PMIX_TOPO);
    if (il.failed) {
        il_free (&il);
        return loom_errset (error, ENOMEM, "out of memory");
    }
    /* The shared-memory job store (gds ds21/ds12) guards its segments with robust
     * mutexes that clients hold too: a rank killed or aborting while it holds one
     * made PMIx 4.2.2's server thread assert or hang at job end (1-2 runs in 20 of
     * `loom-hello --abort`). The hash store keeps job data in the server's own
     * memory. An explicit PMIX_MCA_gds from the user wins.
     */
    if (setenv ("PMIX_MCA_gds", "hash", 0) < 0) {
        il_free (&il);
        return loom_errset (error, errno, "cannot set PMIX_MCA_gds");
    }
    server = l;
    pmix_status_t rc = PMIx_server_init (&module, il.a, il.n);
    il_free (&il);
    if (rc != PMIX_SUCCESS) {
        server = NULL;
        return loom_errset (error, EIO, "cannot start the PMIx server: %s",
                            PMIx_Error_string (rc));
    }
    l->pmix_up = 1;
    return 0;
}

static void *finalize_thread (void *arg)
{
    PMIx_server_finalize ();
    op_done (PMIX_SUCCESS, arg);
    return NULL;
}

/* PMIx_server_finalize() waits for the progress thread: on a thread of its own, so a
 * stuck progress thread costs OP_TIMEOUT_SEC and a warning, not a hung launcher.
 */
void loom__pmix_fini (loom_launch_t *l)
{
    if (!l->pmix_up)
        return;
    l->pmix_up = 0;
    if (l->pmix_stuck)
        return; /* finalizing would wait for it forever; the process exit ends it */
    struct op_wait *w = op_new ();
    pthread_t t;
    if (w && pthread_create (&t, NULL, finalize_thread, w) == 0) {
        pthread_detach (t);
        struct timespec deadline = op_deadline ();
        op_finish (w, PMIX_SUCCESS, &deadline, l, "finalizing");
    } else {
        if (w) {
            op_put (w);
            op_put (w);
        }
        PMIx_server_finalize ();
    }
    server = NULL;
}

LOOM_TRACE_TYPE (t_register, "launch", "pmix.register", "ranks");

static int
register_job (loom_launch_job_t *job, const loom_placement_t *pl, loom_error_t *error);

/* Register the job's namespace and its clients. */
int loom__pmix_register_job (loom_launch_job_t *job,
                             const loom_placement_t *pl,
                             loom_error_t *error)
{
    loom_trace_span_t span = loom_trace_begin (&t_register, job->nprocs);
    int rc = register_job (job, pl, error);
    loom_trace_end (span);
    return rc;
}

static int
register_job (loom_launch_job_t *job, const loom_placement_t *pl, loom_error_t *error)
{
    loom_launch_t *l = job->l;
    struct infolist il = {0};
    int n = job->nprocs, rc = -1;
    uint32_t n32 = (uint32_t)n, one = 1, zero = 0;
    pmix_rank_t r0 = 0;
    bool yes = true;
    char *peers = malloc ((size_t)n * 12 + 1), *cpusets = NULL, *nodemap = NULL,
         *procmap = NULL;
    size_t cslen = 0;
    if (!peers)
        goto nomem;
    peers[0] = '\0';
    for (int r = 0, len = 0; r < n; r++)
        len += sprintf (peers + len, "%s%d", r ? "," : "", r);
    if (PMIx_generate_regex (l->host, &nodemap) != PMIX_SUCCESS
        || PMIx_generate_ppn (peers, &procmap) != PMIX_SUCCESS) {
        loom_errset (error, EIO, "PMIx could not encode the node/proc maps");
        goto out;
    }
    char sdir[4096], nsdir[4096 + 260];
    if (snprintf (sdir, sizeof (sdir), "%s/session", job->dir) >= (int)sizeof (sdir)
        || snprintf (nsdir, sizeof (nsdir), "%s/%s", sdir, job->id)
               >= (int)sizeof (nsdir)) {
        loom_errset (error, ENAMETOOLONG, "temporary directory path too long");
        goto out;
    }

    il_add (&il, PMIX_JOBID, job->id, PMIX_STRING);
    il_add (&il, PMIX_UNIV_SIZE, &n32, PMIX_UINT32);
    il_add (&il, PMIX_JOB_SIZE, &n32, PMIX_UINT32);
    il_add (&il, PMIX_MAX_PROCS, &n32, PMIX_UINT32);
    il_add (&il, PMIX_APP_SIZE, &n32, PMIX_UINT32);
    il_add (&il, PMIX_NUM_NODES, &one, PMIX_UINT32);
    il_add (&il, PMIX_LOCAL_SIZE, &n32, PMIX_UINT32);
    il_add (&il, PMIX_NODE_SIZE, &n32, PMIX_UINT32);
    il_add (&il, PMIX_LOCAL_PEERS, peers, PMIX_STRING);
    il_add (&il, PMIX_LOCALLDR, &r0, PMIX_PROC_RANK);
    il_add (&il, PMIX_APPLDR, &r0, PMIX_PROC_RANK);
    il_add (&il, PMIX_NODE_MAP, nodemap, PMIX_REGEX);
    il_add (&il, PMIX_PROC_MAP, procmap, PMIX_REGEX);
    il_add (&il, PMIX_TMPDIR, sdir, PMIX_STRING);
    il_add (&il, PMIX_NSDIR, nsdir, PMIX_STRING);
    il_add (&il, PMIX_TDIR_RMCLEAN, &yes, PMIX_BOOL);
    if (l->xml)
        il_add (&il, PMIX_LOCAL_TOPO, l->xml, PMIX_STRING);

    /* Every rank's binding, "0-1:2-3:...", as Open MPI reads it for locality. */
    for (int r = 0; r < n; r++) {
        char list[1024];
        hwloc_bitmap_list_snprintf (list, sizeof (list), pl->ranks[r].binding);
        size_t ll = strlen (list);
        char *grown = realloc (cpusets, cslen + ll + 2);
        if (!grown)
            goto nomem;
        cpusets = grown;
        if (r)
            cpusets[cslen++] = ':';
        memcpy (cpusets + cslen, list, ll + 1);
        cslen += ll;
    }
    il_add (&il, PMIX_LOCAL_CPUSETS, cpusets, PMIX_STRING);

    for (int r = 0; r < n; r++) {
        pmix_data_array_t *da;
        struct infolist pi = {0};
        uint16_t lr = (uint16_t)pl->ranks[r].local_rank;
        pmix_rank_t rank = (pmix_rank_t)r;
        char *loc = NULL, *cpus = NULL;
        pmix_cpuset_t cs = {.source = "hwloc",
                            .bitmap = (hwloc_bitmap_t)pl->ranks[r].binding};
        il_add (&pi, PMIX_RANK, &rank, PMIX_PROC_RANK); /* must come first */
        il_add (&pi, PMIX_LOCAL_RANK, &lr, PMIX_UINT16);
        il_add (&pi, PMIX_NODE_RANK, &lr, PMIX_UINT16);
        il_add (&pi, PMIX_GLOBAL_RANK, &rank, PMIX_PROC_RANK);
        il_add (&pi, PMIX_APP_RANK, &rank, PMIX_PROC_RANK);
        il_add (&pi, PMIX_APPNUM, &zero, PMIX_UINT32);
        il_add (&pi, PMIX_NODEID, &zero, PMIX_UINT32);
        il_add (&pi, PMIX_HOSTNAME, l->host, PMIX_STRING);
        if (PMIx_server_generate_locality_string (&cs, &loc) == PMIX_SUCCESS && loc)
            il_add (&pi, PMIX_LOCALITY_STRING, loc, PMIX_STRING);
        if (PMIx_server_generate_cpuset_string (&cs, &cpus) == PMIX_SUCCESS && cpus)
            il_add (&pi, PMIX_CPUSET, cpus, PMIX_STRING);
        free (loc);
        free (cpus);
        PMIX_DATA_ARRAY_CREATE (da, pi.n, PMIX_INFO);
        if (!da || pi.failed) {
            il_free (&pi);
            if (da)
                PMIX_DATA_ARRAY_FREE (da);
            goto nomem;
        }
        memcpy (da->array, pi.a, pi.n * sizeof (pmix_info_t));
        free (pi.a); /* entries now owned by da */
        pmix_info_t *i = il_next (&il);
        if (i) {
            pmix_strncpy (i->key, PMIX_PROC_DATA, PMIX_MAX_KEYLEN);
            i->value.type = PMIX_DATA_ARRAY;
            i->value.data.darray = da;
        } else {
            PMIX_DATA_ARRAY_FREE (da);
        }
    }
    if (il.failed)
        goto nomem;

    if (l->pmix_stuck) {
        loom_errset (error, EIO, "the PMIx server of this launcher is stuck");
        goto out;
    }
    struct timespec deadline = op_deadline ();
    struct op_wait *w = op_new ();
    if (!w)
        goto nomem;
    pmix_status_t prc =
        op_finish (w, PMIx_server_register_nspace (job->id, n, il.a, il.n, op_done, w),
                   &deadline, l, "registering a job");
    if (prc == PMIX_ERR_TIMEOUT)
        il.keep = 1; /* PMIx may still read it */
    if (prc != PMIX_SUCCESS) {
        loom_errset (error, EIO, "PMIx could not register job %s: %s", job->id,
                     PMIx_Error_string (prc));
        goto out;
    }
    job->registered = 1;
    for (int r = 0; r < n; r++) {
        pmix_proc_t p;
        PMIX_PROC_LOAD (&p, job->id, (pmix_rank_t)r);
        if (!(w = op_new ()))
            goto nomem;
        prc = op_finish (
            w, PMIx_server_register_client (&p, getuid (), getgid (), NULL, op_done, w),
            &deadline, l, "registering a rank");
        if (prc != PMIX_SUCCESS) {
            loom_errset (error, EIO, "PMIx could not register rank %d of %s: %s", r,
                         job->id, PMIx_Error_string (prc));
            goto out;
        }
    }
    rc = 0;
    goto out;
nomem:
    loom_errset (error, ENOMEM, "out of memory");
out:
    il_free (&il);
    free (peers);
    free (cpusets);
    free (nodemap);
    free (procmap);
    return rc;
}

int loom__pmix_setup_fork (loom_launch_job_t *job, int rank, char ***env)
{
    pmix_proc_t p;
    PMIX_PROC_LOAD (&p, job->id, (pmix_rank_t)rank);
    return PMIx_server_setup_fork (&p, env) == PMIX_SUCCESS ? 0 : -1;
}

/* One round trip through PMIx's progress thread, done when a rank that ended on its
 * own is about to make us kill the others. PMIx 4.2.2 must not see two ranks of a
 * local fence drop in one pass of that thread: each drop completes the fence again
 * (ptl_base_sendrecv.c, lost_connection) and the second completion frees the fence's
 * tracker twice, which hung (a freed mutex) or crashed the launcher at job end: rank 1
 * in MPI_Abort, rank 0 killed in MPI_Finalize's fence. The ended rank's connection
 * closed before we saw it end, so the thread normally takes its drop in the same pass
 * as this call, before the ranks we kill next can drop.
 */
void loom__pmix_sync (loom_launch_job_t *job)
{
    loom_launch_t *l = job->l;
    if (!job->registered || l->pmix_stuck)
        return;
    struct op_wait *w = op_new ();
    if (!w)
        return;
    struct timespec deadline = op_deadline ();
    /* No local support to set up: this only hops to the progress thread and back. */
    pmix_status_t rc = PMIx_server_setup_local_support (job->id, NULL, 0, op_done, w);
    op_finish (w, rc, &deadline, l, "a round trip");
}

void loom__pmix_deregister_job (loom_launch_job_t *job)
{
    if (!job->registered)
        return;
    job->registered = 0;
    if (job->l->pmix_stuck)
        return;
    struct op_wait *w = op_new ();
    if (!w)
        return; /* leaves the namespace registered: memory, nothing else */
    struct timespec deadline = op_deadline ();
    PMIx_server_deregister_nspace (job->id, op_done, w); /* always calls back */
    op_finish (w, PMIX_SUCCESS, &deadline, job->l, "deregistering a job");
}
