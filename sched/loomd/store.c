/* SPDX-License-Identifier: MIT */
/* SQLite state of loomd (see store.h). Only task rows that left their first state
 * exist: a 10,000-task array is one job row until its tasks start.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <loom/error.h>

#include "store.h"

enum { S_JOB_INS, S_JOB_STATE, S_TASK, S_USAGE, S_FW, S_NODE, S_BEGIN, S_COMMIT, S_N };

static const char *const sql[S_N] = {
    "INSERT INTO jobs (id, fw, uid, gid, submit_ns, spec, state) "
    "VALUES (?, ?, ?, ?, ?, ?, 'active')",
    "UPDATE jobs SET state = ? WHERE id = ?",
    "INSERT OR REPLACE INTO tasks (job, pos, state, attempt, wstatus, pid, start_ns, "
    "end_ns, maxrss, node, cores, pstart) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO usage (fw, uid, core_sec, mem_mib_sec) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (fw, uid) DO UPDATE SET core_sec = core_sec + excluded.core_sec, "
    "mem_mib_sec = mem_mib_sec + excluded.mem_mib_sec",
    "INSERT OR REPLACE INTO frameworks (name, role, weight) VALUES (?, ?, ?)",
    "INSERT OR REPLACE INTO nodes (name, ncores, mem, cores, state) "
    "VALUES (?, ?, ?, ?, ?)",
    "BEGIN",
    "COMMIT",
};

static const char schema[] =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, fw TEXT NOT NULL, "
    "  uid INTEGER NOT NULL, gid INTEGER NOT NULL, submit_ns INTEGER NOT NULL, "
    "  spec TEXT NOT NULL, state TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tasks (job INTEGER NOT NULL, pos INTEGER NOT NULL, "
    "  state INTEGER NOT NULL, attempt INTEGER NOT NULL, wstatus INTEGER NOT NULL, "
    "  pid INTEGER, start_ns INTEGER, end_ns INTEGER, maxrss INTEGER, node TEXT, "
    "  cores TEXT, pstart INTEGER, PRIMARY KEY (job, pos)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS usage (fw TEXT NOT NULL, uid INTEGER NOT NULL, "
    "  core_sec REAL NOT NULL, mem_mib_sec REAL NOT NULL, PRIMARY KEY (fw, uid));"
    "CREATE TABLE IF NOT EXISTS frameworks (name TEXT PRIMARY KEY, role TEXT, "
    "  weight REAL);"
    "CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, ncores INTEGER NOT NULL, "
    "  mem INTEGER NOT NULL, cores TEXT NOT NULL, state TEXT NOT NULL);";

struct loomd_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    int in_tx;
};

loomd_store_t *loomd_store_open (const char *path, loom_error_t *error)
{
    loomd_store_t *s = calloc (1, sizeof (*s));
    if (!s) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    mode_t old = umask (077); /* the database and its WAL are the owner's only */
    int rc = sqlite3_open_v2 (
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (s->db, schema, NULL, NULL, NULL);
    umask (old);
    if (rc != SQLITE_OK) {
        loom_errset (error, EIO, "%s: %s", path,
                     s->db ? sqlite3_errmsg (s->db) : sqlite3_errstr (rc));
        goto error;
    }
    sqlite3_busy_timeout (s->db, 5000);
    for (int i = 0; i < S_N; i++) {
        if (sqlite3_prepare_v3 (s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                NULL)
            != SQLITE_OK) {
            loom_errset (error, EIO, "%s: %s", path, sqlite3_errmsg (s->db));
            goto error;
        }
    }
    return s;
error:
    loomd_store_close (s);
    return NULL;
}

void loomd_store_close (loomd_store_t *s)
{
    if (!s)
        return;
    int saved = errno;
    if (s->in_tx)
        loomd_store_commit (s);
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize (s->st[i]);
    sqlite3_close (s->db);
    free (s);
    errno = saved;
}

static int step (loomd_store_t *s, int i)
{
    int rc = sqlite3_step (s->st[i]);
    sqlite3_reset (s->st[i]);
    sqlite3_clear_bindings (s->st[i]);
    if (rc != SQLITE_DONE) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static int begin (loomd_store_t *s)
{
    if (s->in_tx)
        return 0;
    if (step (s, S_BEGIN) < 0)
        return -1;
    s->in_tx = 1;
    return 0;
}

int loomd_store_commit (loomd_store_t *s)
{
    if (!s->in_tx)
        return 0;
    s->in_tx = 0;
    return step (s, S_COMMIT);
}

int loomd_store_dirty (const loomd_store_t *s)
{
    return s->in_tx;
}

int loomd_store_job_insert (loomd_store_t *s,
                            uint64_t id,
                            const char *fw,
                            uint32_t uid,
                            uint32_t gid,
                            uint64_t submit_ns,
                            const char *spec)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_JOB_INS];
    sqlite3_bind_int64 (q, 1, (sqlite3_int64)id);
    sqlite3_bind_text (q, 2, fw, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (q, 3, uid);
    sqlite3_bind_int64 (q, 4, gid);
    sqlite3_bind_int64 (q, 5, (sqlite3_int64)submit_ns);
    sqlite3_bind_text (q, 6, spec, -1, SQLITE_STATIC);
    return step (s, S_JOB_INS);
}

int loomd_store_job_state (loomd_store_t *s, uint64_t id, const char *state)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_JOB_STATE];
    sqlite3_bind_text (q, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (q, 2, (sqlite3_int64)id);
    return step (s, S_JOB_STATE);
}

int loomd_store_task (loomd_store_t *s, const struct loomd_task_row *r)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_TASK];
    sqlite3_bind_int64 (q, 1, (sqlite3_int64)r->job);
    sqlite3_bind_int64 (q, 2, r->pos);
    sqlite3_bind_int (q, 3, r->state);
    sqlite3_bind_int (q, 4, r->attempt);
    sqlite3_bind_int (q, 5, r->wstatus);
    sqlite3_bind_int64 (q, 6, r->pid);
    sqlite3_bind_int64 (q, 7, (sqlite3_int64)r->start_ns);
    sqlite3_bind_int64 (q, 8, (sqlite3_int64)r->end_ns);
    sqlite3_bind_int64 (q, 9, (sqlite3_int64)r->maxrss);
    sqlite3_bind_text (q, 10, r->node, -1, SQLITE_STATIC);
    sqlite3_bind_text (q, 11, r->cores, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (q, 12, (sqlite3_int64)r->pstart);
    return step (s, S_TASK);
}

int loomd_store_usage (
    loomd_store_t *s, const char *fw, uint32_t uid, double core_sec, double mem_mib_sec)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_USAGE];
    sqlite3_bind_text (q, 1, fw, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (q, 2, uid);
    sqlite3_bind_double (q, 3, core_sec);
    sqlite3_bind_double (q, 4, mem_mib_sec);
    return step (s, S_USAGE);
}

int loomd_store_framework (loomd_store_t *s,
                           const char *name,
                           const char *role,
                           double weight)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_FW];
    sqlite3_bind_text (q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text (q, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_double (q, 3, weight);
    return step (s, S_FW);
}

int loomd_store_node (loomd_store_t *s,
                      const char *name,
                      uint32_t ncores,
                      uint64_t mem,
                      const char *cores,
                      const char *state)
{
    if (begin (s) < 0)
        return -1;
    sqlite3_stmt *q = s->st[S_NODE];
    sqlite3_bind_text (q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (q, 2, ncores);
    sqlite3_bind_int64 (q, 3, (sqlite3_int64)mem);
    sqlite3_bind_text (q, 4, cores, -1, SQLITE_STATIC);
    sqlite3_bind_text (q, 5, state, -1, SQLITE_STATIC);
    return step (s, S_NODE);
}

int loomd_store_nodes_each (loomd_store_t *s, loomd_node_cb cb, void *arg)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2 (s->db,
                            "SELECT name, ncores, mem, cores, state FROM nodes "
                            "ORDER BY rowid",
                            -1, &q, NULL)
        != SQLITE_OK)
        return -1;
    int rc = 0;
    while (rc == 0 && sqlite3_step (q) == SQLITE_ROW)
        rc = cb (arg, (const char *)sqlite3_column_text (q, 0),
                 (uint32_t)sqlite3_column_int64 (q, 1),
                 (uint64_t)sqlite3_column_int64 (q, 2),
                 (const char *)sqlite3_column_text (q, 3),
                 (const char *)sqlite3_column_text (q, 4));
    sqlite3_finalize (q);
    return rc;
}

int loomd_store_replay (loomd_store_t *s,
                        loomd_job_cb jcb,
                        loomd_task_cb tcb,
                        void *arg)
{
    sqlite3_stmt *j = NULL, *t = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (
            s->db, "SELECT id, fw, uid, gid, submit_ns, spec FROM jobs ORDER BY id", -1,
            &j, NULL)
            != SQLITE_OK
        || sqlite3_prepare_v2 (
               s->db,
               "SELECT job, pos, state, attempt, wstatus, pid, start_ns, "
               "end_ns, maxrss, node, cores, pstart FROM tasks ORDER BY job, pos",
               -1, &t, NULL)
               != SQLITE_OK) {
        errno = EIO;
        goto out;
    }
    int trc = sqlite3_step (t);
    while (sqlite3_step (j) == SQLITE_ROW) {
        uint64_t id = (uint64_t)sqlite3_column_int64 (j, 0);
        if (jcb (arg, id, (const char *)sqlite3_column_text (j, 1),
                 (uint32_t)sqlite3_column_int64 (j, 2),
                 (uint32_t)sqlite3_column_int64 (j, 3),
                 (uint64_t)sqlite3_column_int64 (j, 4),
                 (const char *)sqlite3_column_text (j, 5))
            < 0)
            goto out;
        while (trc == SQLITE_ROW && (uint64_t)sqlite3_column_int64 (t, 0) <= id) {
            struct loomd_task_row r = {
                .job = (uint64_t)sqlite3_column_int64 (t, 0),
                .pos = (uint32_t)sqlite3_column_int64 (t, 1),
                .state = sqlite3_column_int (t, 2),
                .attempt = sqlite3_column_int (t, 3),
                .wstatus = sqlite3_column_int (t, 4),
                .pid = sqlite3_column_int64 (t, 5),
                .start_ns = (uint64_t)sqlite3_column_int64 (t, 6),
                .end_ns = (uint64_t)sqlite3_column_int64 (t, 7),
                .maxrss = (uint64_t)sqlite3_column_int64 (t, 8),
                .node = (const char *)sqlite3_column_text (t, 9),
                .cores = (const char *)sqlite3_column_text (t, 10),
                .pstart = (uint64_t)sqlite3_column_int64 (t, 11),
            };
            if (r.job == id && tcb (arg, &r) < 0)
                goto out;
            trc = sqlite3_step (t);
        }
    }
    rc = 0;
out:
    sqlite3_finalize (j);
    sqlite3_finalize (t);
    return rc;
}

int loomd_store_usage_each (loomd_store_t *s, loomd_usage_cb cb, void *arg)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2 (s->db, "SELECT fw, uid, core_sec FROM usage", -1, &q, NULL)
        != SQLITE_OK)
        return -1;
    while (sqlite3_step (q) == SQLITE_ROW)
        cb (arg, (const char *)sqlite3_column_text (q, 0),
            (uint32_t)sqlite3_column_int64 (q, 1), sqlite3_column_double (q, 2));
    sqlite3_finalize (q);
    return 0;
}
