/* SPDX-License-Identifier: MIT */
/* Broadcast internals shared by bcast.c and bcast_shared.c. */
#ifndef LOOM_LIBCOMM_BCAST_IMPL_H
#define LOOM_LIBCOMM_BCAST_IMPL_H

#include "internal.h"

/* The algorithm AUTO picks for 'len' bytes over 'n' ranks. */
loom_bcast_algo_t loom__bcast_choose (uint64_t len, int n, bool one_node);

/* Broadcast over any communicator (no length check). chunk 0: by size. 'one_node':
 * all ranks of 'comm' share a machine (node copy allowed).
 */
int loom__bcast_comm (MPI_Comm comm,
                      void *buf,
                      uint64_t len,
                      int root,
                      loom_bcast_algo_t algo,
                      uint64_t chunk,
                      double timeout,
                      bool one_node,
                      loom_error_t *error);

/* EINVAL for a bad root or params. */
int loom__bcast_check (loom_comm_t *c,
                       const struct loom_bcast_params *p,
                       int root,
                       loom_error_t *error);

#endif
