/* SPDX-License-Identifier: MIT */
/* loom-sweep: an elastic parameter-sweep framework on loomd's framework API.
 *
 *     loom sweep [--points N] [--cores-per-task C] [--weight W] [--name NAME] -- cmd {}
 *
 * It runs 'cmd' once per point 1..N ({} becomes the point) and takes whatever cores
 * loomd offers: every offer is cut into tasks of C whole cores, as many as it holds and
 * points remain. loomd decides how much it gets: by Dominant Resource Fairness
 * against the other frameworks (the batch framework behind `loom submit`), with the
 * weight given here. When a task ends, its cores go to whichever framework has the
 * lower weighted dominant share, so next to a backlogged batch queue of equal weight
 * the sweep holds half of the cores, and all of them when the queue is empty.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <loom/sched.h>

struct sweep {
    char **cmd; /* the command, with {} */
    int ncmd;
    int points; /* total */
    int next;   /* next point to launch */
    int done, failed;
    int running, max_running;
    unsigned cpt; /* cores per task */
    double t0;
};

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* argv for one point: every "{}" replaced by it. */
static char **argv_for (const struct sweep *s, int point)
{
    char **v = calloc ((size_t)s->ncmd + 1, sizeof (*v));
    char num[16];
    snprintf (num, sizeof (num), "%d", point);
    for (int i = 0; v && i < s->ncmd; i++) {
        const char *a = s->cmd[i], *p;
        size_t len = strlen (a) + 1;
        for (p = a; (p = strstr (p, "{}")); p += 2)
            len += strlen (num);
        char *out = malloc (len), *o = out;
        for (p = a; out && *p;) {
            if (p[0] == '{' && p[1] == '}') {
                o += sprintf (o, "%s", num);
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        if (out)
            *o = '\0';
        v[i] = out;
    }
    return v;
}

static void
on_offer (loom_sched_framework_t *fw, const struct loom_sched_offer *o, void *arg)
{
    struct sweep *s = arg;
    loom_error_t error;
    unsigned n = o->ncores / s->cpt;
    if (n > (unsigned)(s->points - s->next))
        n = (unsigned)(s->points - s->next);
    if (n == 0) {
        /* Nothing to launch: let others have it, and ask again later. */
        loom_sched_offer_decline (fw, o->id, s->next < s->points ? 0.1 : 60, &error);
        return;
    }
    struct loom_sched_task *tasks = calloc (n, sizeof (*tasks));
    hwloc_bitmap_t *sets = calloc (n, sizeof (*sets));
    for (unsigned i = 0; i < n; i++) {
        sets[i] = hwloc_bitmap_alloc ();
        for (unsigned k = 0; k < s->cpt; k++) /* whole cores, C per task */
            hwloc_bitmap_or (sets[i], sets[i], o->cores[i * s->cpt + k]);
        tasks[i].cpuset = sets[i];
        tasks[i].argv = argv_for (s, s->next + 1 + (int)i);
    }
    if (loom_sched_offer_accept (fw, o->id, tasks, n, NULL, &error) < 0) {
        fprintf (stderr, "loom-sweep: offer %llu: %s\n", (unsigned long long)o->id,
                 error.text);
    } else {
        s->next += (int)n;
        s->running += (int)n;
        if (s->running > s->max_running)
            s->max_running = s->running;
        printf ("%7.2fs offer %llu on %s: %u cores -> %u tasks (running %d)\n",
                now () - s->t0, (unsigned long long)o->id, o->node, o->ncores, n,
                s->running);
    }
    for (unsigned i = 0; i < n; i++) {
        for (char *const *a = tasks[i].argv; a && *a; a++)
            free (*a);
        free ((void *)tasks[i].argv);
        hwloc_bitmap_free (sets[i]);
    }
    free (sets);
    free (tasks);
    fflush (stdout);
}

static void on_status (loom_sched_framework_t *fw,
                       const struct loom_sched_task_status *st,
                       void *arg)
{
    struct sweep *s = arg;
    (void)fw;
    if (strcmp (st->state, "running") == 0)
        return;
    s->running--;
    if (strcmp (st->state, "completed") == 0)
        s->done++;
    else
        s->failed++;
}

int main (int argc, char **argv)
{
    static const struct option opts[] = {
        {"points", 1, NULL, 'p'},    {"cores-per-task", 1, NULL, 'c'},
        {"weight", 1, NULL, 'w'},    {"name", 1, NULL, 'n'},
        {"state-dir", 1, NULL, 'd'}, {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sweep s = {.points = 10, .cpt = 1};
    struct loom_sched_framework_params p = LOOM_SCHED_FRAMEWORK_PARAMS_INIT;
    const char *dir = NULL;
    int c;
    p.name = "sweep";
    while ((c = getopt_long (argc, argv, "+p:c:w:n:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            s.points = atoi (optarg);
            break;
        case 'c':
            s.cpt = (unsigned)atoi (optarg);
            break;
        case 'w':
            p.weight = atof (optarg);
            break;
        case 'n':
            p.name = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        default:
            fprintf (c == 'h' ? stdout : stderr,
                     "Usage: loom sweep [--points N] [--cores-per-task C] [--weight W] "
                     "[--name NAME] [--state-dir DIR] -- cmd {}\n");
            return c == 'h' ? 0 : 1;
        }
    }
    if (optind >= argc || s.points < 1 || s.cpt < 1 || p.weight <= 0) {
        fprintf (stderr, "loom: sweep: need a command, --points >= 1, --cores-per-task "
                         ">= 1 and a positive --weight\n");
        return 1;
    }
    s.cmd = argv + optind;
    s.ncmd = argc - optind;
    p.offer = on_offer;
    p.status = on_status;
    p.arg = &s;
    loom_error_t error;
    loom_sched_t *h = loom_sched_connect (dir, &error);
    loom_sched_framework_t *fw =
        h ? loom_sched_framework_register (h, &p, &error) : NULL;
    if (!fw) {
        fprintf (stderr, "loom: sweep: %s\n", error.text);
        loom_sched_close (h);
        return 1;
    }
    s.t0 = now ();
    while (s.done + s.failed < s.points) {
        if (loom_sched_framework_progress (fw, -1, &error) < 0) {
            fprintf (stderr, "loom: sweep: %s\n", error.text);
            loom_sched_framework_destroy (fw);
            return 1;
        }
    }
    printf ("sweep '%s': %d points, %d completed, %d failed, at most %d tasks at once, "
            "%.2fs\n",
            p.name, s.points, s.done, s.failed, s.max_running, now () - s.t0);
    loom_sched_framework_destroy (fw);
    return s.failed ? 1 : 0;
}
