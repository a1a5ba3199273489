/* SPDX-License-Identifier: MIT */
/* loom-mr-corpus: the wordcount benchmark corpus. Text of words drawn from a
 * vocabulary of V distinct words (default 100,000) with Zipf(s) frequencies (default
 * s = 1.0: the word of rank k appears in proportion to 1/k^s), separated by spaces,
 * 8 to 16 words per line. Deterministic from the seed. Single-threaded: it writes
 * 1 GiB in a few seconds, faster than the runs it feeds.
 *
 * Sampling uses Walker's alias method (O(1) per word), built from the exact Zipf
 * probabilities, so the corpus has the intended skew at any size.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state;

/* splitmix64 */
static inline uint64_t next64 (void)
{
    uint64_t x = (rng_state += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Uniform in [0, n) by multiply-shift. */
static inline uint32_t below (uint32_t n)
{
    return (uint32_t)(((unsigned __int128)next64 () * n) >> 64);
}

struct vocab {
    char *text;       /* words back to back */
    uint32_t *offset; /* word i is text[offset[i] .. offset[i+1]) */
    uint32_t n;
};

/* V distinct lowercase words of 3 to 10 letters. Duplicates are rejected through an
 * open-addressing set of word hashes, then the word is drawn again.
 */
static int make_vocab (struct vocab *v, uint32_t n)
{
    size_t cap = 1;
    while (cap < 4 * (size_t)n)
        cap <<= 1;
    uint64_t *set = calloc (cap, sizeof (uint64_t));
    v->text = malloc ((size_t)n * 11);
    v->offset = malloc (((size_t)n + 1) * sizeof (uint32_t));
    v->n = n;
    if (!set || !v->text || !v->offset) {
        free (set);
        return -1;
    }
    uint32_t pos = 0;
    for (uint32_t i = 0; i < n;) {
        char w[16];
        uint32_t len = 3 + below (8);
        uint64_t h = 1469598103934665603ULL;
        for (uint32_t k = 0; k < len; k++) {
            w[k] = (char)('a' + below (26));
            h = (h ^ (uint8_t)w[k]) * 1099511628211ULL;
        }
        h = h ? h : 1;
        size_t slot = h & (cap - 1);
        int dup = 0;
        while (set[slot]) {
            if (set[slot] == h) {
                dup = 1; /* same hash: treat as a duplicate, draw again */
                break;
            }
            slot = (slot + 1) & (cap - 1);
        }
        if (dup)
            continue;
        set[slot] = h;
        v->offset[i++] = pos;
        memcpy (v->text + pos, w, len);
        pos += len;
    }
    v->offset[n] = pos;
    free (set);
    return 0;
}

/* Walker's alias tables for P(k) proportional to 1/(k+1)^s, k < n. */
static int make_alias (uint32_t n, double s, double **prob_out, uint32_t **alias_out)
{
    double *p = malloc (n * sizeof (double));
    double *prob = malloc (n * sizeof (double));
    uint32_t *alias = malloc (n * sizeof (uint32_t));
    uint32_t *small = malloc (n * sizeof (uint32_t));
    uint32_t *large = malloc (n * sizeof (uint32_t));
    if (!p || !prob || !alias || !small || !large)
        goto error;
    double sum = 0;
    for (uint32_t k = 0; k < n; k++)
        sum += (p[k] = pow ((double)k + 1.0, -s));
    uint32_t ns = 0, nl = 0;
    for (uint32_t k = 0; k < n; k++) {
        p[k] = p[k] / sum * n;
        if (p[k] < 1.0)
            small[ns++] = k;
        else
            large[nl++] = k;
    }
    while (ns && nl) {
        uint32_t a = small[--ns], b = large[nl - 1];
        prob[a] = p[a];
        alias[a] = b;
        p[b] -= 1.0 - p[a];
        if (p[b] < 1.0) {
            nl--;
            small[ns++] = b;
        }
    }
    while (nl)
        prob[large[--nl]] = 1.0;
    while (ns)
        prob[small[--ns]] = 1.0; /* rounding leftovers */
    free (p);
    free (small);
    free (large);
    *prob_out = prob;
    *alias_out = alias;
    return 0;
error:
    free (p);
    free (prob);
    free (alias);
    free (small);
    free (large);
    return -1;
}

static int parse_size (const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    int shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end)
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bytes", required_argument, NULL, 'b'},
        {"seed", required_argument, NULL, 's'},
        {"vocab", required_argument, NULL, 'v'},
        {"zipf", required_argument, NULL, 'z'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t bytes = 1ULL << 30, seed = 1, vocab = 100000;
    double zipf = 1.0;
    const char *output = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "o:h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'b':
            bad = parse_size (optarg, &bytes) < 0;
            break;
        case 's':
            bad = parse_size (optarg, &seed) < 0;
            break;
        case 'v':
            bad = parse_size (optarg, &vocab) < 0 || vocab < 1 || vocab > 10000000;
            break;
        case 'z':
            zipf = strtod (optarg, NULL);
            bad = !(zipf >= 0.0 && zipf <= 10.0);
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            printf ("Usage: loom-mr-corpus [--bytes N] [--seed S] [--vocab V] "
                    "[--zipf S] --output FILE\n"
                    "Text of Zipf-distributed words (default: 1 GiB, 100000 words, "
                    "s=1.0).\n");
            return 0;
        default:
            fprintf (stderr, "loom-mr-corpus: bad option '%s'\n", argv[optind - 1]);
            return 1;
        }
        if (bad) {
            fprintf (stderr, "loom-mr-corpus: bad value '%s' for %s\n", optarg,
                     argv[optind - 2]);
            return 1;
        }
    }
    if (!output) {
        fprintf (stderr, "loom-mr-corpus: missing --output FILE\n");
        return 1;
    }

    rng_state = seed;
    struct vocab v;
    double *prob;
    uint32_t *alias;
    if (make_vocab (&v, (uint32_t)vocab) < 0
        || make_alias ((uint32_t)vocab, zipf, &prob, &alias) < 0) {
        fprintf (stderr, "loom-mr-corpus: out of memory\n");
        return 1;
    }
    char *tmp;
    if (asprintf (&tmp, "%s.tmp-%d", output, (int)getpid ()) < 0)
        return 1;
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf (stderr, "loom-mr-corpus: cannot create '%s': %s\n", output,
                 strerror (errno));
        return 1;
    }
    const size_t bufsize = 1 << 22;
    char *buf = malloc (bufsize + 64);
    uint64_t written = 0;
    size_t used = 0;
    uint32_t left_in_line = 8 + below (9);
    while (written + used < bytes) {
        uint32_t k = below ((uint32_t)vocab);
        if ((double)(next64 () >> 11) * 0x1.0p-53 >= prob[k])
            k = alias[k];
        uint32_t len = v.offset[k + 1] - v.offset[k];
        memcpy (buf + used, v.text + v.offset[k], len);
        used += len;
        if (--left_in_line == 0) {
            buf[used++] = '\n';
            left_in_line = 8 + below (9);
        } else {
            buf[used++] = ' ';
        }
        if (used >= bufsize || written + used >= bytes) {
            size_t n = used;
            if (written + n > bytes) /* exact size: end on a newline */
                n = (size_t)(bytes - written);
            if (n > 0)
                buf[n - 1] = '\n';
            if (write (fd, buf, n) != (ssize_t)n) {
                fprintf (stderr, "loom-mr-corpus: cannot write '%s': %s\n", output,
                         strerror (errno));
                unlink (tmp);
                return 1;
            }
            written += n;
            used = 0;
        }
    }
    if (fsync (fd) < 0 || close (fd) < 0 || rename (tmp, output) < 0) {
        fprintf (stderr, "loom-mr-corpus: cannot write '%s': %s\n", output,
                 strerror (errno));
        unlink (tmp);
        return 1;
    }
    free (buf);
    free (tmp);
    free (prob);
    free (alias);
    free (v.text);
    free (v.offset);
    return 0;
}
