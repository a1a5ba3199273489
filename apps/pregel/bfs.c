/* SPDX-License-Identifier: MIT */
/* loom-bfs: breadth-first search depths from a source vertex along out-edges. */
#include "source.h"

int main (int argc, char **argv)
{
    static const struct source_app sa = {
        .name = "bfs",
        .summary = "Breadth-first search along out-edges: every vertex gets its depth\n"
                   "from the source (-1 when unreachable).",
        .weighted = 0,
        .type = LOOM_PREGEL_I64,
        .program = algo_bfs_program,
    };
    return source_main (&sa, argc, argv);
}
