/* SPDX-License-Identifier: MIT */
/* Monotonic time for durations, timeouts and trace timestamps. */
#ifndef LOOM_CLOCK_H
#define LOOM_CLOCK_H

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on CLOCK_MONOTONIC (arbitrary origin). This function can't fail. */
LOOM_API uint64_t loom_clock_ns (void);

/* Seconds on CLOCK_MONOTONIC as a double. This function can't fail. */
LOOM_API double loom_clock_sec (void);

/* Wall-clock time in nanoseconds since the Unix epoch (CLOCK_REALTIME), for records
 * people read (creation times). This function can't fail.
 */
LOOM_API uint64_t loom_clock_realtime_ns (void);

#ifdef __cplusplus
}
#endif
#endif
