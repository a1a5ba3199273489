/* SPDX-License-Identifier: MIT */
/* Fuzz target: bytes as an agent or a head would receive them from a TCP peer
 * (sched/loomd/wire.c). The input is split into frames the way loomd does; each
 * frame is parsed and checked as every message kind. Whatever a peer sends, parsing
 * must not crash, and what is accepted must be in range (cores on the node, slots x
 * cores = cores given, output chunks bounded, signals valid).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define NODE_CORES 8

static void check_run (json_t *o)
{
    struct loomd_msg_run m;
    char why[256];
    if (loomd_msg_run (o, NODE_CORES, &m, why, sizeof (why)) < 0) {
        if (!why[0] || m.argv || m.env || m.cores)
            abort ();
        return;
    }
    if (!m.argv || !m.argv[0] || !m.env || m.ncores != (size_t)m.nslots * m.cps)
        abort ();
    for (size_t i = 0; i < m.ncores; i++)
        if (m.cores[i] >= NODE_CORES)
            abort ();
    loomd_msg_run_free (&m);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        const unsigned char *p;
        size_t plen, used;
        /* A small maximum so that inputs can reach the "oversized" answer too. */
        int r = loomd_wire_frame (data + off, size - off, 4096, &p, &plen, &used);
        if (r <= 0)
            break;
        if (used != plen + 4 || used > size - off)
            abort ();
        off += used;
        const char *op = NULL;
        char why[256] = "";
        json_t *o = loomd_wire_parse (p, plen, &op, why, sizeof (why));
        if (!o) {
            if (!why[0])
                abort ();
            continue;
        }
        struct loomd_msg_hello h;
        if (loomd_msg_hello (o, &h, why, sizeof (why)) == 0
            && (h.ncores == 0 || !h.node[0] || !h.secret))
            abort ();
        static const char *ops[] = {"out", "exit", "kill"};
        for (int k = 0; k < 3; k++) {
            struct loomd_msg_task m;
            if (loomd_msg_task (o, ops[k], &m, why, sizeof (why)) == 0) {
                if (m.job == 0
                    || (k == 0
                        && (m.n > LOOMD_WIRE_CHUNK || m.value < 1 || m.value > 3)))
                    abort ();
                if (k == 2 && (m.value <= 0 || m.value >= 65))
                    abort ();
            }
        }
        check_run (o);
        json_decref (o);
    }
    return 0;
}
