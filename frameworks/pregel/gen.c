/* SPDX-License-Identifier: MIT */
/* Synthetic edge generators: Graph500 Kronecker (R-MAT) and uniform random.
 *
 * Every edge is a pure function of (seed, edge index): edge e draws its random numbers
 * from its own counter-based stream, so any rank can generate any slice of the edge
 * list and the graph is the same whatever the number of ranks. Vertex ids are then
 * scrambled by a bijection of [0, 2^scale), as Graph500's reference generator does, so
 * the high-degree vertices are not the small ids (which would make range partitioning
 * and cache behaviour look better than they are on real data).
 */
#include <errno.h>
#include <string.h>

#include <loom/error.h>
#include <loom/pregel.h>

/* splitmix64: a strong 64-bit mixer; consecutive counters give independent outputs. */
static inline uint64_t mix64 (uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform double in [0, 1) from 53 random bits. */
static inline double unit (uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

/* The low 'bits' bits of v reversed (v < 2^bits), by a 64-bit reversal: byte swap,
 * then swap nibbles, bit pairs and bits within each byte.
 */
static inline uint64_t bit_reverse (uint64_t v, unsigned bits)
{
    v = __builtin_bswap64 (v);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    return bits ? v >> (64 - bits) : 0;
}

/* A seeded bijection of [0, 2^scale): multiply by odd constants and add (both
 * bijective mod 2^scale), xor-shift right (bijective), and bit-reverse so the high bits
 * mix into the low ones. The same construction as Graph500's scramble().
 */
static inline uint64_t scramble (uint64_t v, unsigned scale, uint64_t k0, uint64_t k1)
{
    const uint64_t mask = scale >= 64 ? UINT64_MAX : (1ULL << scale) - 1;
    v &= mask;
    v = (v * (k0 | 1) + k1) & mask;
    v ^= v >> (scale / 2 + 1);
    v = bit_reverse (v, scale);
    v = (v * ((k1 << 1) | 1) + k0) & mask;
    v ^= v >> (scale / 3 + 1);
    v = bit_reverse (v, scale);
    v = (v * 0x9E3779B97F4A7C15ULL + (k0 ^ k1)) & mask;
    return v;
}

int loom_pregel_gen_check (const struct loom_pregel_gen_params *p, loom_error_t *error)
{
    if (!p)
        return loom_errset (error, EINVAL, "no generator parameters");
    if (p->kind != LOOM_PREGEL_GEN_RMAT && p->kind != LOOM_PREGEL_GEN_URAND)
        return loom_errset (error, EINVAL, "unknown generator kind %d", (int)p->kind);
    if (p->scale < 1 || p->scale > 40)
        return loom_errset (error, EINVAL, "scale %u is out of range 1..40", p->scale);
    if (p->edgefactor < 1 || p->edgefactor > 1024)
        return loom_errset (error, EINVAL, "edge factor %u is out of range 1..1024",
                            p->edgefactor);
    if (p->kind == LOOM_PREGEL_GEN_RMAT) {
        double d = 1.0 - p->a - p->b - p->c;
        if (!(p->a > 0 && p->b >= 0 && p->c >= 0 && d >= 0))
            return loom_errset (error, EINVAL,
                                "R-MAT probabilities a=%g b=%g c=%g must be >= 0 "
                                "with a > 0 and a+b+c <= 1",
                                p->a, p->b, p->c);
    }
    return 0;
}

uint64_t loom_pregel_gen_num_edges (const struct loom_pregel_gen_params *p)
{
    return (uint64_t)p->edgefactor << p->scale;
}

int loom_pregel_gen_edges (const struct loom_pregel_gen_params *p,
                           uint64_t first,
                           uint64_t count,
                           uint64_t *src,
                           uint64_t *dst,
                           double *weight,
                           loom_error_t *error)
{
    if (loom_pregel_gen_check (p, error) < 0)
        return -1;
    if ((count > 0 && (!src || !dst)) || first + count < first
        || first + count > loom_pregel_gen_num_edges (p))
        return loom_errset (
            error, EINVAL, "edge range [%llu, %llu) is outside the graph",
            (unsigned long long)first, (unsigned long long)(first + count));
    const unsigned scale = p->scale;
    const uint64_t mask = (1ULL << scale) - 1;
    /* Scramble keys and edge streams come from the seed, not from the rank. */
    const uint64_t k0 = mix64 (p->seed ^ 0x5CA1AB1E0DDBA11ULL);
    const uint64_t k1 = mix64 (k0 + p->seed);
    const uint64_t stream = mix64 (p->seed);
    /* Graph500's quadrant choice: row bit with P(1) = c+d, then column bit with
     * P(1) = b/(a+b) in the top half and d/(c+d) in the bottom half. One 64-bit draw
     * per level gives both bits, each from 32 bits compared with a 32-bit threshold.
     */
    const double ab = p->a + p->b;
    const double a_norm = ab > 0 ? p->a / ab : 0;
    const double c_norm = (1.0 - ab) > 0 ? p->c / (1.0 - ab) : 0;
    const uint64_t t_ab = (uint64_t)(ab * 0x1p32);
    const uint64_t t_a = (uint64_t)(a_norm * 0x1p32), t_c = (uint64_t)(c_norm * 0x1p32);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t e = first + i;
        /* Edge e's stream: counter = (stream, e, draw). */
        uint64_t ctr = mix64 (stream ^ (e * 0xD1342543DE82EF95ULL));
        uint64_t u = 0, v = 0;
        if (p->kind == LOOM_PREGEL_GEN_URAND) {
            u = mix64 (ctr + 1) & mask;
            v = mix64 (ctr + 2) & mask;
        } else {
            for (unsigned level = 0; level < scale; level++) {
                uint64_t r = mix64 (ctr + level + 1);
                uint64_t ii = (r >> 32) >= t_ab;
                uint64_t jj = (r & 0xFFFFFFFFu) >= (ii ? t_c : t_a);
                u = (u << 1) | ii;
                v = (v << 1) | jj;
            }
            u = scramble (u, scale, k0, k1);
            v = scramble (v, scale, k0, k1);
        }
        src[i] = u;
        dst[i] = v;
        if (weight)
            weight[i] = unit (mix64 (ctr + (uint64_t)scale + 3));
    }
    return 0;
}
