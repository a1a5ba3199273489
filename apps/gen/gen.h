/* SPDX-License-Identifier: MIT */
/* loom-gen: one MPI program for every data generator. Each kind is one file with one
 * entry in the table of gen.c; the helpers here keep the kinds consistent (options,
 * errors printed once, output committed atomically).
 */
#ifndef LOOM_GEN_H
#define LOOM_GEN_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

struct gen_kind {
    const char *name;
    const char *summary; /* one line for `loom gen --help` */
    /* Run the kind on every rank of 'comm' with its own options (argv[0] is the kind
     * name). Collective. Returns the process exit status, the same on every rank.
     */
    int (*main) (const struct gen_kind *kind, MPI_Comm comm, int argc, char **argv);
};

/* The kinds, one per file (gen_<kind>.c). */
extern const struct gen_kind gen_kind_sort;
extern const struct gen_kind gen_kind_rmat;  /* gen_graph.c */
extern const struct gen_kind gen_kind_urand; /* gen_graph.c */

/* Print "loom: gen: <kind>: <message>" on stderr, on rank 0 of 'comm' only (the
 * caller makes sure every rank agrees that the error happened). Returns exit status 1.
 */
int gen_error (const struct gen_kind *kind, MPI_Comm comm, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Collective: agree on failure. 'failed' is this rank's verdict, 'msg' its message.
 * When any rank failed, the message of the lowest failing rank is copied into 'msg'
 * on every rank and 1 is returned everywhere; otherwise 0.
 */
int gen_any_failed (MPI_Comm comm, int failed, char *msg, size_t msglen);

/* Parse a byte count with an optional K, M, G or T suffix (powers of 1024) and an
 * optional trailing 'B' or 'iB'. Returns 0, or -1 if 's' is not such a count.
 */
int gen_parse_bytes (const char *s, uint64_t *out);

/* Parse an unsigned 64-bit integer (decimal or 0x hex). Returns 0 or -1. */
int gen_parse_u64 (const char *s, uint64_t *out);

/* A text output file written by every rank at its own offsets and committed
 * atomically: ranks write into a temporary file beside the target, and the target
 * appears (by rename) only when every rank has written and synced its part. On any
 * failure the temporary file is removed and the target is untouched.
 */
struct gen_output {
    char *path;
    char *tmp;
    int fd;
};

/* Collective. Creates the temporary file for 'path', sized 'size' bytes. Fails (on
 * every rank, with 'msg' saying why) when 'path' exists and 'force' is 0, or when its
 * directory is not writable. Returns 0 or -1.
 */
int gen_output_open (struct gen_output *out,
                     MPI_Comm comm,
                     const char *path,
                     uint64_t size,
                     int force,
                     char *msg,
                     size_t msglen);

/* Write 'len' bytes at 'offset' of the output. Returns 0, or -1 with 'msg' filled
 * (local: follow with gen_output_commit, which agrees on failure).
 */
int gen_output_pwrite (struct gen_output *out,
                       const void *buf,
                       size_t len,
                       uint64_t offset,
                       char *msg,
                       size_t msglen);

/* Collective. 'failed' is this rank's verdict so far. Syncs, then renames into place
 * if no rank failed, otherwise removes the temporary file. Returns 0 when committed,
 * -1 (on every rank, 'msg' holding the first failure) otherwise. Frees 'out'.
 */
int gen_output_commit (
    struct gen_output *out, MPI_Comm comm, int failed, char *msg, size_t msglen);

/* splitmix64: the counter-based generator every kind uses, so record i depends only
 * on (seed, i) and output is the same at any number of ranks.
 */
static inline uint64_t gen_mix64 (uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

#endif
