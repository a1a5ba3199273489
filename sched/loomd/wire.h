/* SPDX-License-Identifier: MIT */
/* The wire between loomd (the head) and its agents on other nodes: over TCP, the same
 * frames as the Unix socket (proto.h: a 4-byte big-endian length, then that many
 * bytes), each a JSON object with "op". One exception keeps task output binary-safe:
 * an "out" message is followed by one raw frame of its "n" bytes.
 *
 *   agent -> head   hello {secret, node, mem, cores: [PU list per core], version}
 *                   out {job, pos, attempt, value: stream, n} + raw frame, as the
 *                       task writes (every 0.2 s) and at its end
 *                       (stream 1 stdout, 2 stderr, 3 an --mpi task's job log)
 *                   exit {job, pos, attempt, wstatus, maxrss}
 *                   hb {}
 *   head -> agent   welcome {heartbeat, timeout} | refused {error}
 *                   run {job, pos, index, attempt, uid, gid, user, cwd, argv, env,
 *                        mpi, nslots, cps, cores: [core index], grace}
 *                   kill {job, pos, attempt, sig}
 *                   hb {} | bye {}
 *
 * The parsing here is pure (no I/O), so tests/fuzz/fuzz_sched_wire.c drives it with
 * arbitrary bytes; the head and the agents use exactly these functions.
 */
#ifndef LOOMD_WIRE_H
#define LOOMD_WIRE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LOOMD_WIRE_VERSION 1
#define LOOMD_WIRE_MAX     (16u << 20) /* a larger frame from a peer is an error */
#define LOOMD_WIRE_CHUNK   (1u << 20)  /* output travels in chunks of at most this */

/* Find one frame at the start of buf[0..len). Returns 1 and sets *payload, *plen and
 * *used (bytes to drop), 0 if the frame is not complete yet, -1 if its length is
 * above 'max'. This function can't fail otherwise.
 */
int loomd_wire_frame (const unsigned char *buf,
                      size_t len,
                      size_t max,
                      const unsigned char **payload,
                      size_t *plen,
                      size_t *used);

/* The 4-byte header of a frame of 'len' bytes. */
void loomd_wire_header (unsigned char hdr[4], size_t len);

/* Parse a frame as a JSON object with a string "op". Returns it (caller decrefs) and
 * *op (owned by it), or NULL with a one-line reason in 'why'.
 */
json_t *loomd_wire_parse (const unsigned char *payload,
                          size_t len,
                          const char **op,
                          char *why,
                          size_t whylen);

struct loomd_msg_hello {
    const char *secret, *node;
    uint64_t mem;
    size_t ncores;
    json_t *cores; /* array of PU lists (strings), borrowed */
};

struct loomd_msg_task { /* run, kill, exit, out: which task, which attempt */
    uint64_t job;
    uint32_t pos, attempt;
    int64_t index;
    int value;  /* kill: signal; exit: wait status; out: stream (1 or 2) */
    uint64_t n; /* exit: peak RSS KiB; out: bytes following */
};

struct loomd_msg_run {
    struct loomd_msg_task task;
    uint32_t uid, gid, nslots, cps;
    const char *user, *cwd;
    int mpi;
    double grace;
    char **argv, **env; /* NULL-terminated copies: free with loomd_strv_free */
    uint32_t *cores;    /* core indexes on the node, ncores of them: free(3) */
    size_t ncores;
};

/* Check and unpack a message. Return 0, or -1 with a one-line reason in 'why'. */
int loomd_msg_hello (json_t *o, struct loomd_msg_hello *m, char *why, size_t whylen);
int loomd_msg_task (
    json_t *o, const char *op, struct loomd_msg_task *m, char *why, size_t whylen);
int loomd_msg_run (
    json_t *o, uint32_t node_cores, struct loomd_msg_run *m, char *why, size_t whylen);
void loomd_msg_run_free (struct loomd_msg_run *m);

/* A NULL-terminated copy of a JSON array of strings (NULL if it is not one, or if
 * it is empty and nonempty is set).
 */
char **loomd_strv_from_json (json_t *a, int nonempty);
void loomd_strv_free (char **v);

#endif
