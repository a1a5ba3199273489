/* SPDX-License-Identifier: MIT */
/* Frames over a stream socket (see proto.h), blocking side used by clients. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

int loom__frame_write (int fd, const char *json, size_t len, int passfd)
{
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    struct iovec iov[2] = {{hdr, 4}, {(void *)json, len}};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE (sizeof (int))];
    } cm;
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    if (passfd >= 0) {
        memset (&cm, 0, sizeof (cm));
        msg.msg_control = cm.buf;
        msg.msg_controllen = sizeof (cm.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN (sizeof (int));
        memcpy (CMSG_DATA (c), &passfd, sizeof (int));
    }
    size_t total = 4 + len, done = 0;
    while (done < total) {
        ssize_t n = sendmsg (fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)n;
        msg.msg_control = NULL; /* the fd went with the first byte */
        msg.msg_controllen = 0;
        while (msg.msg_iovlen && (size_t)n >= msg.msg_iov[0].iov_len) {
            n -= (ssize_t)msg.msg_iov[0].iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen) {
            msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + n;
            msg.msg_iov[0].iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int read_full (int fd, void *buf, size_t len, int timeout_ms, int *passfd)
{
    size_t done = 0;
    while (done < len) {
        if (timeout_ms >= 0) {
            struct pollfd p = {fd, POLLIN, 0};
            int r = poll (&p, 1, timeout_ms);
            if (r == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
        }
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE (sizeof (int))];
        } cm;
        struct iovec iov = {(char *)buf + done, len - done};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = cm.buf,
                             .msg_controllen = sizeof (cm.buf)};
        ssize_t n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int got;
                memcpy (&got, CMSG_DATA (c), sizeof (int));
                if (passfd && *passfd < 0)
                    *passfd = got;
                else
                    close (got);
            }
        }
        done += (size_t)n;
    }
    return 0;
}

char *loom__frame_read (int fd, int timeout_ms, int *passfd)
{
    unsigned char hdr[4];
    if (read_full (fd, hdr, 4, timeout_ms, passfd) < 0)
        return NULL;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16
                   | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > LOOM__FRAME_MAX) {
        errno = EPROTO;
        return NULL;
    }
    char *buf = malloc (len + 1);
    if (!buf)
        return NULL;
    if (read_full (fd, buf, len, timeout_ms, passfd) < 0) {
        int e = errno;
        free (buf);
        errno = e;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}
