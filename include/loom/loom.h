/* SPDX-License-Identifier: MIT */
/* Loom: a datacenter operating system for HPC clusters. Umbrella header.
 *
 * Error reporting, for every function of the public API:
 *   - Functions returning int return 0 (or a non-negative count) on success and -1 on
 *     failure with errno set.
 *   - Functions returning a pointer return NULL on failure with errno set.
 *   - Functions that take a trailing 'loom_error_t *error' also fill it (when non-NULL)
 *     with one line saying what went wrong, naming the thing at fault (a file, an
 *     option, a partition). The text never ends with a newline.
 *   - Destructors ('*_destroy') accept NULL, return void and preserve errno, so any
 *     error path may clean up without losing the original errno.
 *   - Library code never writes to the terminal; it reports through return values,
 *     'error' and the log handler (loom/log.h).
 *   - Errors from MPI, HDF5, hwloc and PMIx are turned into errno + text at the
 *     boundary: EIO for I/O and MPI failures, EINVAL for bad arguments, ENOMEM,
 *     ETIMEDOUT for a collective that timed out, EPROTO for corrupt or foreign data.
 *
 * The umbrella holds the common layer's headers (loom::common). A header that
 * includes mpi.h is never in it, so a program without MPI can include loom.h: include
 * those directly and link their library: loom/comm.h and loom/join.h (loom::comm),
 * loom/dataset.h (loom::datasets), loom/mapreduce.h (loom::mapreduce),
 * loom/pregel.h (loom::pregel). So are the other components' headers
 * (loom/launch.h, loom/sched.h, loom/trace_tools.h).
 */
#ifndef LOOM_LOOM_H
#define LOOM_LOOM_H

#include <loom/types.h>
#include <loom/version.h>
#include <loom/error.h>
#include <loom/log.h>
#include <loom/hash.h>
#include <loom/clock.h>
#include <loom/topo.h>
#include <loom/trace.h>

#endif
