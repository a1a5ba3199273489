/* SPDX-License-Identifier: MIT */
/* Frames and messages between the head and its agents (see wire.h). Everything a
 * peer sends is checked here before anyone uses it: sizes, types, ranges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

void loomd_wire_header (unsigned char hdr[4], size_t len)
{
    hdr[0] = (unsigned char)(len >> 24);
    hdr[1] = (unsigned char)(len >> 16);
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
}

int loomd_wire_frame (const unsigned char *buf,
                      size_t len,
                      size_t max,
                      const unsigned char **payload,
                      size_t *plen,
                      size_t *used)
{
    if (len < 4)
        return 0;
    size_t n =
        (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (n > max)
        return -1;
    if (len - 4 < n)
        return 0;
    *payload = buf + 4;
    *plen = n;
    *used = 4 + n;
    return 1;
}

json_t *loomd_wire_parse (
    const unsigned char *payload, size_t len, const char **op, char *why, size_t whylen)
{
    json_error_t e;
    json_t *o = json_loadb ((const char *)payload, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        snprintf (why, whylen, "malformed message (not JSON: %s)", e.text);
        return NULL;
    }
    *op = json_string_value (json_object_get (o, "op"));
    if (!json_is_object (o) || !*op) {
        snprintf (why, whylen, "malformed message (no \"op\")");
        json_decref (o);
        return NULL;
    }
    return o;
}

char **loomd_strv_from_json (json_t *a, int nonempty)
{
    if (!json_is_array (a) || (nonempty && json_array_size (a) == 0))
        return NULL;
    size_t n = json_array_size (a);
    char **v = calloc (n + 1, sizeof (*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value (json_array_get (a, i));
        if (!s || !(v[i] = strdup (s))) {
            loomd_strv_free (v);
            return NULL;
        }
    }
    return v;
}

void loomd_strv_free (char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free (v[i]);
    free (v);
}

int loomd_msg_hello (json_t *o, struct loomd_msg_hello *m, char *why, size_t whylen)
{
    json_error_t e;
    json_int_t mem = 0, version = 0;
    memset (m, 0, sizeof (*m));
    if (json_unpack_ex (o, &e, 0, "{s:s, s:s, s:I, s:o, s:I}", "secret", &m->secret,
                        "node", &m->node, "mem", &mem, "cores", &m->cores, "version",
                        &version)
        < 0) {
        snprintf (why, whylen, "bad hello: %s", e.text);
        return -1;
    }
    if (version != LOOMD_WIRE_VERSION) {
        snprintf (why, whylen, "agent speaks protocol %lld, this loomd %d",
                  (long long)version, LOOMD_WIRE_VERSION);
        return -1;
    }
    size_t nl = strlen (m->node);
    if (nl == 0 || nl > 255 || strpbrk (m->node, " \t\n/")) {
        snprintf (why, whylen, "bad node name '%.64s'", m->node);
        return -1;
    }
    m->ncores = json_array_size (m->cores);
    if (!json_is_array (m->cores) || m->ncores == 0 || m->ncores > 65536) {
        snprintf (why, whylen, "bad hello: cores must list 1..65536 PU sets");
        return -1;
    }
    for (size_t i = 0; i < m->ncores; i++) {
        if (!json_is_string (json_array_get (m->cores, i))) {
            snprintf (why, whylen, "bad hello: core %zu is not a PU list", i);
            return -1;
        }
    }
    if (mem < 0) {
        snprintf (why, whylen, "bad hello: negative memory");
        return -1;
    }
    m->mem = (uint64_t)mem;
    return 0;
}

int loomd_msg_task (
    json_t *o, const char *op, struct loomd_msg_task *m, char *why, size_t whylen)
{
    json_error_t e;
    json_int_t job = 0, pos = -1, attempt = -1, index = 0, value = 0, n = 0;
    memset (m, 0, sizeof (*m));
    if (json_unpack_ex (o, &e, 0, "{s:I, s:I, s:I, s?I, s?I, s?I}", "job", &job, "pos",
                        &pos, "attempt", &attempt, "index", &index, "value", &value,
                        "n", &n)
        < 0) {
        snprintf (why, whylen, "bad %s: %s", op, e.text);
        return -1;
    }
    if (job <= 0 || pos < 0 || pos > UINT32_MAX || attempt < 0 || attempt > UINT32_MAX
        || value < INT32_MIN || value > INT32_MAX || n < 0) {
        snprintf (why, whylen, "bad %s: a field is out of range", op);
        return -1;
    }
    if (strcmp (op, "out") == 0 && ((value < 1 || value > 3) || n > LOOMD_WIRE_CHUNK)) {
        snprintf (why, whylen, "bad out: stream %lld of %lld bytes", (long long)value,
                  (long long)n);
        return -1;
    }
    if (strcmp (op, "kill") == 0 && (value <= 0 || value >= 65)) {
        snprintf (why, whylen, "bad kill: signal %lld", (long long)value);
        return -1;
    }
    m->job = (uint64_t)job;
    m->pos = (uint32_t)pos;
    m->attempt = (uint32_t)attempt;
    m->index = (int64_t)index;
    m->value = (int)value;
    m->n = (uint64_t)n;
    return 0;
}

int loomd_msg_run (
    json_t *o, uint32_t node_cores, struct loomd_msg_run *m, char *why, size_t whylen)
{
    json_error_t e;
    json_int_t uid = -1, gid = -1, nslots = 0, cps = 0;
    json_t *argv = NULL, *env = NULL, *cores = NULL;
    int mpi = 0;
    memset (m, 0, sizeof (*m));
    if (loomd_msg_task (o, "run", &m->task, why, whylen) < 0)
        return -1;
    m->user = m->cwd = NULL;
    if (json_unpack_ex (o, &e, 0,
                        "{s:I, s:I, s:s, s?s, s:o, s:o, s:b, s:I, s:I, s:o, s:F}",
                        "uid", &uid, "gid", &gid, "user", &m->user, "cwd", &m->cwd,
                        "argv", &argv, "env", &env, "mpi", &mpi, "nslots", &nslots,
                        "cps", &cps, "cores", &cores, "grace", &m->grace)
        < 0) {
        snprintf (why, whylen, "bad run: %s", e.text);
        return -1;
    }
    if (uid < 0 || uid > UINT32_MAX - 1 || gid < 0 || gid > UINT32_MAX - 1 || nslots < 1
        || cps < 1 || nslots * cps != (json_int_t)json_array_size (cores)
        || !(m->grace >= 0)) {
        snprintf (why, whylen, "bad run: ids, slots or cores out of range");
        return -1;
    }
    m->uid = (uint32_t)uid;
    m->gid = (uint32_t)gid;
    m->nslots = (uint32_t)nslots;
    m->cps = (uint32_t)cps;
    m->mpi = mpi;
    m->ncores = json_array_size (cores);
    if (!(m->argv = loomd_strv_from_json (argv, 1))
        || !(m->env = loomd_strv_from_json (env, 0))) {
        snprintf (why, whylen, "bad run: argv and env must be arrays of strings");
        goto error;
    }
    if (!(m->cores = calloc (m->ncores, sizeof (*m->cores)))) {
        snprintf (why, whylen, "out of memory");
        goto error;
    }
    for (size_t i = 0; i < m->ncores; i++) {
        json_t *c = json_array_get (cores, i);
        json_int_t k = json_integer_value (c);
        if (!json_is_integer (c) || k < 0 || k >= (json_int_t)node_cores) {
            snprintf (why, whylen, "bad run: core %lld is not on this node (%u cores)",
                      (long long)k, node_cores);
            goto error;
        }
        for (size_t p = 0; p < i; p++) {
            if (m->cores[p] == (uint32_t)k) {
                snprintf (why, whylen, "bad run: core %lld given twice", (long long)k);
                goto error;
            }
        }
        m->cores[i] = (uint32_t)k;
    }
    return 0;
error:
    loomd_msg_run_free (m);
    return -1;
}

void loomd_msg_run_free (struct loomd_msg_run *m)
{
    loomd_strv_free (m->argv);
    loomd_strv_free (m->env);
    free (m->cores);
    m->argv = m->env = NULL;
    m->cores = NULL;
}
