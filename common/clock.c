/* SPDX-License-Identifier: MIT */
#include <time.h>

#include <loom/clock.h>

uint64_t loom_clock_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double loom_clock_sec (void)
{
    return (double)loom_clock_ns () * 1e-9;
}

uint64_t loom_clock_realtime_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
