/* SPDX-License-Identifier: MIT */
/* Wire format between loomd and its clients: frames of a 4-byte big-endian length and
 * that many bytes of JSON (one object). A reply may carry one file descriptor
 * (SCM_RIGHTS) on its first byte. Requests have "op"; replies have "ok" (and "error",
 * "errno" when false); events pushed to frameworks have "event".
 */
#ifndef LOOM_SCHED_PROTO_H
#define LOOM_SCHED_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define LOOM__FRAME_MAX (64u << 20)
#define LOOM__SOCK_NAME "loomd.sock"

/* Write one frame (blocking). Returns 0, or -1 with errno (EPIPE ...). */
int loom__frame_write (int fd, const char *json, size_t len, int passfd);
/* Read one frame (blocking, at most timeout_ms when >= 0). Returns a malloc'ed
 * NUL-terminated string, or NULL with errno (EPIPE at end of stream, EPROTO for an
 * oversized frame, ETIMEDOUT). A received fd goes to *fd (or is closed).
 */
char *loom__frame_read (int fd, int timeout_ms, int *passfd);

#endif
