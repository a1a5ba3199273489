/* SPDX-License-Identifier: MIT */
/* loom gen sort: TeraSort-style records for the sort benchmark and tests.
 *
 * Every record is 100 bytes of ASCII:
 *   10-byte key of printable characters (0x20-0x7e), uniform
 *   ' ', 32 hex digits of the record number, ' '
 *   55 filler letters derived from the record number, '\n'
 * Record i depends only on (seed, i), so the output is the same at any number of
 * ranks; rank r writes records [r*n/N, (r+1)*n/N) at their offsets in one file.
 * Record numbers make every line distinct, so sorting by the whole line is a total
 * order and matches `LC_ALL=C sort`.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define REC_SIZE   100
#define KEY_SIZE   10
#define CHUNK_RECS 40960 /* 4 MiB per write */

/* Fill 'rec' with record 'i' of the data set 'seed'. */
static void make_record (uint64_t seed, uint64_t i, char *rec)
{
    static const char hex[] = "0123456789ABCDEF";
    uint64_t base = gen_mix64 (seed);
    uint64_t r[2] = {gen_mix64 (base + 2 * i), gen_mix64 (base + 2 * i + 1)};
    /* Five base-95 digits from each 64-bit draw by multiply-shift: each digit is the
     * high part of r*95, and the low part carries the remaining randomness.
     */
    for (int k = 0; k < KEY_SIZE; k++) {
        unsigned __int128 m = (unsigned __int128)r[k / 5] * 95;
        rec[k] = (char)(' ' + (int)(m >> 64));
        r[k / 5] = (uint64_t)m;
    }
    char *p = rec + KEY_SIZE;
    *p++ = ' ';
    memset (p, '0', 16);
    for (int k = 0; k < 16; k++)
        p[16 + k] = hex[(i >> (60 - 4 * k)) & 0xf];
    p += 32;
    *p++ = ' ';
    for (int k = 0; k < 55; k++)
        *p++ = (char)('A' + (int)((i + (uint64_t)k) % 26));
    *p = '\n';
}

static void usage (void)
{
    printf (
        "Usage: loom gen sort --bytes N [--seed S] --output FILE [--force] [-n N]\n\n"
        "Writes TeraSort-style 100-byte records (10-byte printable key, record\n"
        "number, filler, newline). The same seed gives the same file at any\n"
        "number of ranks.\n\n"
        "Options:\n"
        "  --bytes=N      Size; K/M/G suffixes (powers of 1024); rounded down to\n"
        "                 whole records\n"
        "  --records=N    Number of records instead of --bytes\n"
        "  --seed=S       Seed (default 1)\n"
        "  --output=FILE  File to write (replaced only with --force)\n"
        "  --force        Replace an existing output\n");
}

static int sort_main (const struct gen_kind *kind, MPI_Comm comm, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bytes", required_argument, NULL, 'b'},
        {"records", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t bytes = 0, records = 0, seed = 1;
    int have_size = 0, force = 0, c, rank, size;
    const char *output = NULL;
    MPI_Comm_rank (comm, &rank);
    MPI_Comm_size (comm, &size);

    opterr = 0;
    optind = 1;
    while ((c = getopt_long (argc, argv, ":o:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (gen_parse_bytes (optarg, &bytes) < 0)
                return gen_error (kind, comm,
                                  "--bytes must be a size like 1G, not '%s'", optarg);
            records = bytes / REC_SIZE;
            have_size = 1;
            break;
        case 'r':
            if (gen_parse_u64 (optarg, &records) < 0)
                return gen_error (kind, comm, "--records must be a count, not '%s'",
                                  optarg);
            have_size = 1;
            break;
        case 's':
            if (gen_parse_u64 (optarg, &seed) < 0)
                return gen_error (kind, comm, "--seed must be an integer, not '%s'",
                                  optarg);
            break;
        case 'o':
            output = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'q':
            break;
        case 'h':
            if (rank == 0)
                usage ();
            return 0;
        case ':':
            return gen_error (kind, comm, "option '%s' needs a value",
                              argv[optind - 1]);
        default:
            return gen_error (kind, comm,
                              "unknown option '%s' (see 'loom gen sort --help')",
                              argv[optind - 1]);
        }
    }
    if (optind < argc)
        return gen_error (kind, comm, "unexpected argument '%s'", argv[optind]);
    if (!have_size)
        return gen_error (kind, comm, "say how much: --bytes N or --records N");
    if (!output)
        return gen_error (kind, comm, "missing --output FILE");
    if (records > UINT64_MAX / REC_SIZE)
        return gen_error (kind, comm, "too many records");

    char msg[512] = "";
    struct gen_output out;
    if (gen_output_open (&out, comm, output, records * REC_SIZE, force, msg,
                         sizeof (msg))
        < 0)
        return gen_error (kind, comm, "%s", msg);

    uint64_t first = records * (uint64_t)rank / (uint64_t)size;
    uint64_t last = records * (uint64_t)(rank + 1) / (uint64_t)size;
    char *buf = malloc ((size_t)CHUNK_RECS * REC_SIZE);
    int failed = 0;
    if (!buf) {
        snprintf (msg, sizeof (msg), "out of memory");
        failed = 1;
    }
    for (uint64_t i = first; !failed && i < last;) {
        uint64_t n = last - i < CHUNK_RECS ? last - i : CHUNK_RECS;
        for (uint64_t k = 0; k < n; k++)
            make_record (seed, i + k, buf + k * REC_SIZE);
        if (gen_output_pwrite (&out, buf, (size_t)n * REC_SIZE, i * REC_SIZE, msg,
                               sizeof (msg))
            < 0)
            failed = 1;
        i += n;
    }
    free (buf);
    if (gen_output_commit (&out, comm, failed, msg, sizeof (msg)) < 0)
        return gen_error (kind, comm, "%s", msg);
    return 0;
}

const struct gen_kind gen_kind_sort = {
    .name = "sort",
    .summary = "TeraSort-style 100-byte text records (--bytes N --seed S --output F)",
    .main = sort_main,
};
