/* fdio.c - poll-based write-all / read-with-timeout for fd backends. */
#include "drivers/fdio.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long kv__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int errno_status(int e)
{
    switch (e) {
    case EPIPE: case ECONNRESET: case ENODEV: case ENXIO: case ENOTCONN:
    case ESHUTDOWN:
        return KV_T_E_DISCONNECTED;
    default:
        return KV_T_E_IO;
    }
}

int kv__fd_write_all(kv_transport *t, int fd, int is_socket, const void *buf,
                     size_t len, size_t *written, int timeout_ms)
{
    const unsigned char *p = buf;
    size_t done = 0;
    long long deadline = kv__now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    int st = KV_T_OK;

    while (done < len) {
        ssize_t n = is_socket ? send(fd, p + done, len - done, MSG_NOSIGNAL)
                              : write(fd, p + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            /* The timeout is for no progress: a slow link (9600 baud, a
             * printer printing a long image) may take longer in total. */
            deadline = kv__now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            st = errno_status(e);
            kv__transport_seterr(t, "write failed after %zu of %zu bytes: %s",
                                 done, len, strerror(e));
            break;
        }
        long long left = deadline - kv__now_ms();
        if (left <= 0) {
            st = KV_T_E_TIMEOUT;
            kv__transport_seterr(t, "printer accepted only %zu of %zu bytes, then nothing "
                                 "for %d ms (buffer full, paper out or flow control stuck)",
                                 done, len, timeout_ms);
            break;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int pr = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
        if (pr < 0 && errno != EINTR) {
            st = KV_T_E_IO;
            kv__transport_seterr(t, "poll: %s", strerror(errno));
            break;
        }
    }
    *written = done;
    return st;
}

ssize_t kv__fd_read(kv_transport *t, int fd, int eof_is_disconnect, void *buf,
                    size_t len, int timeout_ms)
{
    long long deadline = kv__now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
    int polled = 0;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n > 0)
            return n;
        if (n == 0) {
            if (eof_is_disconnect) {
                kv__transport_seterr(t, "the printer closed the connection");
                return KV_T_E_DISCONNECTED;
            }
            /* A device said "readable" and then gave nothing (end of file,
             * like /dev/null): nothing will come. A tty in VMIN=0 mode
             * returns 0 before the first poll; that is not EOF. */
            if (polled)
                return 0;
        } else if (errno == EINTR) {
            continue;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            kv__transport_seterr(t, "read failed: %s", strerror(e));
            errno = e; /* callers may look at it (lp: EINVAL = one-way device) */
            return errno_status(e) == KV_T_E_DISCONNECTED || e == EIO ? KV_T_E_DISCONNECTED
                                                                    : KV_T_E_IO;
        }
        long long left = deadline - kv__now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            kv__transport_seterr(t, "poll: %s", strerror(errno));
            return KV_T_E_IO;
        }
        if (pr == 0)
            return 0;
        polled = 1;
        if (!(pfd.revents & POLLIN) && !eof_is_disconnect)
            return 0; /* hang-up or error without data on a device */
    }
}

int kv__open_errno(int err, const char *what, const char *path, char *msg, size_t msglen)
{
    switch (err) {
    case ENOENT: case ENXIO: case ENODEV:
        snprintf(msg, msglen, "%s %s not found: is the printer plugged in and switched on? "
                 "(%s)", what, path, strerror(err));
        return KV_T_E_NOT_FOUND;
    case EACCES: case EPERM:
        snprintf(msg, msglen, "no permission to open %s %s: add the till user to the "
                 "group that owns it (usually 'lp' or 'dialout': sudo usermod -aG lp USER, "
                 "then log in again) or install the kvitt udev rules (make install-udev)",
                 what, path);
        return KV_T_E_ACCESS;
    case EBUSY:
        snprintf(msg, msglen, "%s %s is busy: another program (CUPS, a print spooler, "
                 "another kvitt) has it open; stop it and try again", what, path);
        return KV_T_E_BUSY;
    default:
        snprintf(msg, msglen, "cannot open %s %s: %s", what, path, strerror(err));
        return KV_T_E_IO;
    }
}

void *kv__fd_handle_new(size_t size, int fd, char *err, size_t errlen)
{
    void *h = calloc(1, size);
    if (!h) {
        close(fd);
        snprintf(err, errlen, "out of memory");
    }
    return h;
}
