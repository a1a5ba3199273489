/* SPDX-License-Identifier: MIT */
/* loom-sssp: single-source shortest paths over weighted edges (Bellman-Ford in
 * supersteps with a min combiner).
 */
#include "source.h"

int main (int argc, char **argv)
{
    static const struct source_app sa = {
        .name = "sssp",
        .summary = "Single-source shortest paths: every vertex gets its distance from\n"
                   "the source (inf when unreachable). Weights must be >= 0; an\n"
                   "unweighted graph counts every edge as 1.",
        .weighted = 1,
        .type = LOOM_PREGEL_F64,
        .program = algo_sssp_program,
    };
    return source_main (&sa, argc, argv);
}
