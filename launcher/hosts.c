/* SPDX-License-Identifier: MIT */
/* Host lists: --host, --hostfile and Slurm allocations (hostlist expressions). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/launch.h>

#define MAX_HOSTS 65536
#define MAX_NAME  255

struct hostvec {
    struct loom_host *h;
    int n, cap;
};

void loom_hosts_free (struct loom_host *hosts, int n)
{
    if (!hosts)
        return;
    int saved = errno;
    for (int i = 0; i < n; i++)
        free (hosts[i].name);
    free (hosts);
    errno = saved;
}

static int push (struct hostvec *v,
                 const char *name,
                 size_t len,
                 unsigned slots,
                 loom_error_t *error)
{
    if (len == 0 || len > MAX_NAME)
        return loom_errset (error, EINVAL, "bad host name '%.*s'", (int)(len ? 64 : 0),
                            name);
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char)name[i]) && !strchr ("-._", name[i]))
            return loom_errset (error, EINVAL, "bad host name '%.*s'",
                                (int)(len > 64 ? 64 : len), name);
    if (v->n >= MAX_HOSTS)
        return loom_errset (error, EINVAL, "more than %d hosts", MAX_HOSTS);
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        struct loom_host *h = realloc (v->h, (size_t)cap * sizeof (*h));
        if (!h)
            return loom_errset (error, ENOMEM, "out of memory");
        v->h = h;
        v->cap = cap;
    }
    if (!(v->h[v->n].name = strndup (name, len)))
        return loom_errset (error, ENOMEM, "out of memory");
    v->h[v->n++].slots = slots;
    return 0;
}

static int finish (struct hostvec *v, struct loom_host **hosts, int rc)
{
    if (rc < 0) {
        loom_hosts_free (v->h, v->n);
        *hosts = NULL;
        return -1;
    }
    *hosts = v->h;
    return v->n;
}

/* A decimal count in [1, 1e6] of exactly 'len' bytes, or 0. */
static unsigned count_of (const char *s, size_t len)
{
    unsigned v = 0;
    if (len == 0 || len > 7)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit ((unsigned char)s[i]))
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= 1000000 ? v : 0;
}

int loom_hosts_parse (const char *list, struct loom_host **hosts, loom_error_t *error)
{
    struct hostvec v = {0};
    int rc = 0;
    if (!hosts || !list || !*list) {
        if (hosts)
            *hosts = NULL;
        return loom_errset (error, EINVAL, "empty host list");
    }
    for (const char *p = list; rc == 0;) {
        const char *comma = strchr (p, ','), *end = comma ? comma : p + strlen (p);
        const char *colon = memchr (p, ':', (size_t)(end - p));
        unsigned slots = 0;
        if (colon && !(slots = count_of (colon + 1, (size_t)(end - colon - 1))))
            rc = loom_errset (error, EINVAL,
                              "bad slot count '%.*s' for host '%.*s' (expected "
                              "host:N with N > 0)",
                              (int)(end - colon - 1), colon + 1, (int)(colon - p), p);
        else
            rc = push (&v, p, (size_t)((colon ? colon : end) - p), slots, error);
        if (!comma)
            break;
        p = comma + 1;
    }
    return finish (&v, hosts, rc);
}

int loom_hosts_read_file (const char *path,
                          struct loom_host **hosts,
                          loom_error_t *error)
{
    struct hostvec v = {0};
    int rc = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    *hosts = NULL;
    FILE *f = fopen (path, "r");
    if (!f)
        return loom_errprintf (error, "cannot read hostfile %s: %s", path,
                               strerror (errno));
    while (rc == 0 && getline (&line, &cap, f) >= 0) {
        lineno++;
        char *hash = strchr (line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *name = strtok_r (line, " \t\r\n", &save);
        if (!name)
            continue;
        unsigned slots = 0;
        for (char *tok; rc == 0 && (tok = strtok_r (NULL, " \t\r\n", &save));) {
            const char *val = NULL;
            if (strncmp (tok, "slots=", 6) == 0)
                val = tok + 6;
            else if (strncmp (tok, "max_slots=", 10) == 0)
                continue; /* mpirun's hard cap: slots already bounds us */
            if (!val || !(slots = count_of (val, strlen (val))))
                rc = loom_errset (error, EINVAL,
                                  "%s:%d: bad entry '%s' (expected 'host [slots=N]')",
                                  path, lineno, tok);
        }
        if (rc == 0 && push (&v, name, strlen (name), slots, error) < 0) {
            rc = -1;
            /* name the line, keeping the reason */
            char reason[sizeof (loom_error_t)];
            snprintf (reason, sizeof (reason), "%s", error ? error->text : "");
            loom_errprintf (error, "%s:%d: %s", path, lineno, reason);
        }
    }
    free (line);
    fclose (f);
    if (rc == 0 && v.n == 0)
        rc = loom_errset (error, EINVAL, "hostfile %s names no host", path);
    return finish (&v, hosts, rc);
}

/* Expand one hostlist element "pre[1-3,07]suf" (or a plain name) into 'v'. */
static int expand (struct hostvec *v, const char *s, size_t len, loom_error_t *error)
{
    const char *lb = memchr (s, '[', len);
    if (!lb)
        return push (v, s, len, 0, error);
    const char *rb = memchr (lb, ']', len - (size_t)(lb - s));
    if (!rb || rb == lb + 1)
        return loom_errset (error, EINVAL, "bad Slurm node list element '%.*s'",
                            (int)len, s);
    const char *suf = rb + 1;
    size_t suflen = len - (size_t)(suf - s);
    if (memchr (suf, '[', suflen))
        return loom_errset (error, EINVAL,
                            "multi-dimensional Slurm node list '%.*s' not supported",
                            (int)len, s);
    for (const char *p = lb + 1; p < rb;) {
        const char *comma = memchr (p, ',', (size_t)(rb - p)),
                   *end = comma ? comma : rb;
        const char *dash = memchr (p, '-', (size_t)(end - p));
        const char *hi_s = dash ? dash + 1 : p;
        size_t lo_len = (size_t)((dash ? dash : end) - p),
               hi_len = (size_t)(end - hi_s);
        char *e1, *e2;
        char lo_buf[16], hi_buf[16];
        if (lo_len == 0 || lo_len > 9 || hi_len == 0 || hi_len > 9)
            return loom_errset (error, EINVAL, "bad range in Slurm node list '%.*s'",
                                (int)len, s);
        snprintf (lo_buf, sizeof (lo_buf), "%.*s", (int)lo_len, p);
        snprintf (hi_buf, sizeof (hi_buf), "%.*s", (int)hi_len, hi_s);
        long lo = strtol (lo_buf, &e1, 10), hi = strtol (hi_buf, &e2, 10);
        if (*e1 || *e2 || !isdigit ((unsigned char)lo_buf[0])
            || !isdigit ((unsigned char)hi_buf[0]) || hi < lo || hi - lo >= MAX_HOSTS)
            return loom_errset (error, EINVAL, "bad range in Slurm node list '%.*s'",
                                (int)len, s);
        for (long i = lo; i <= hi; i++) {
            char name[MAX_NAME + 32];
            int n = snprintf (name, sizeof (name), "%.*s%0*ld%.*s", (int)(lb - s), s,
                              (int)lo_len, i, (int)suflen, suf);
            if (n < 0 || (size_t)n >= sizeof (name)
                || push (v, name, (size_t)n, 0, error) < 0)
                return loom_errset (error, EINVAL, "bad Slurm node list '%.*s'",
                                    (int)len, s);
        }
        p = comma ? comma + 1 : rb;
    }
    return 0;
}

/* Slots per node from "2(x3),1" into v's hosts in order. */
static int slurm_slots (struct hostvec *v, const char *spec, loom_error_t *error)
{
    int i = 0;
    for (const char *p = spec; *p && i < v->n;) {
        char *end;
        long n = strtol (p, &end, 10), rep = 1;
        if (end == p || n < 0)
            return loom_errset (error, EINVAL, "bad Slurm task count '%s'", spec);
        if (*end == '(') {
            if (end[1] != 'x' || (rep = strtol (end + 2, &end, 10)) <= 0 || *end != ')')
                return loom_errset (error, EINVAL, "bad Slurm task count '%s'", spec);
            end++;
        }
        for (long k = 0; k < rep && i < v->n; k++)
            v->h[i++].slots = (unsigned)n;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return loom_errset (error, EINVAL, "bad Slurm task count '%s'", spec);
    }
    return 0;
}

int loom_hosts_from_slurm (struct loom_host **hosts, loom_error_t *error)
{
    struct hostvec v = {0};
    const char *list = getenv ("SLURM_JOB_NODELIST");
    if (!list)
        list = getenv ("SLURM_NODELIST");
    *hosts = NULL;
    if (!list || !*list)
        return 0;
    int rc = 0, depth = 0;
    const char *start = list;
    for (const char *p = list;; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        if ((*p == ',' && depth == 0) || *p == '\0') {
            if ((rc = expand (&v, start, (size_t)(p - start), error)) < 0 || !*p)
                break;
            start = p + 1;
        }
    }
    const char *tpn = getenv ("SLURM_TASKS_PER_NODE");
    if (!tpn)
        tpn = getenv ("SLURM_JOB_CPUS_PER_NODE");
    if (rc == 0 && tpn)
        rc = slurm_slots (&v, tpn, error);
    return finish (&v, hosts, rc);
}
