/* tcp.c - raw TCP printers (JetDirect / port 9100): tcp://HOST[:PORT]. */
#include "drivers/transport.h"
#include "drivers/fdio.h"
#include "drivers/uri.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    kv_transport base; /* must be first */
    int fd;
    int abort_on_close; /* a write failed: do not keep feeding the printer */
} tcp_t;

/* Connect one address without blocking longer than timeout_ms.  Returns
 * the fd or -1 with *err = errno (ETIMEDOUT on timeout). */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        *err = errno;
        close(fd);
        return -1;
    }
    long long deadline = kv__now_ms() + timeout_ms;
    for (;;) {
        long long left = deadline - kv__now_ms();
        if (left <= 0) {
            *err = ETIMEDOUT;
            close(fd);
            return -1;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            *err = errno;
            close(fd);
            return -1;
        }
        if (pr == 0)
            continue;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            *err = soerr;
            close(fd);
            return -1;
        }
        return fd;
    }
}

static int tcp_open(kv_transport **out, const char *uri, int timeout_ms,
                    char *err, size_t errlen)
{
    kv_uri u;
    int st = kv_uri_parse(&u, uri, err, errlen);
    if (st)
        return st;
    char port[8];
    snprintf(port, sizeof port, "%u", u.port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(u.host, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "host not found (%s): check the address in the printer URI "
                 "and the network cable", gai_strerror(gai));
        return KV_T_E_NOT_FOUND;
    }
    int fd = -1, e = 0;
    long long deadline = kv__now_ms() + timeout_ms;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        long long left = deadline - kv__now_ms();
        if (left <= 0) {
            e = ETIMEDOUT;
            break;
        }
        fd = connect_one(ai, (int)left, &e);
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (e == ETIMEDOUT) {
            snprintf(err, errlen, "no answer within %d ms: is the printer switched on and "
                     "on the same network?", timeout_ms);
            return KV_T_E_TIMEOUT;
        }
        if (e == ECONNREFUSED) {
            snprintf(err, errlen, "connection refused: wrong port, or another till is "
                     "printing (try again)");
            return KV_T_E_BUSY;
        }
        snprintf(err, errlen, "cannot connect: %s", strerror(e));
        return KV_T_E_NOT_FOUND;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tcp_t *t = kv__fd_handle_new(sizeof *t, fd, err, errlen);
    if (!t)
        return KV_T_E_NOMEM;
    t->fd = fd;
    *out = &t->base;
    return KV_T_OK;
}

static int tcp_write(kv_transport *bt, const void *buf, size_t len, size_t *written,
                     int timeout_ms)
{
    tcp_t *t = (tcp_t *)bt;
    int st = kv__fd_write_all(bt, t->fd, 1, buf, len, written, timeout_ms);
    if (st)
        t->abort_on_close = 1;
    return st;
}

static ssize_t tcp_read(kv_transport *bt, void *buf, size_t len, int timeout_ms)
{
    tcp_t *t = (tcp_t *)bt;
    return kv__fd_read(bt, t->fd, 1, buf, len, timeout_ms);
}

static void tcp_close(kv_transport *bt)
{
    tcp_t *t = (tcp_t *)bt;
    if (!t)
        return;
    if (t->abort_on_close) {
        /* The job was already reported as not fully printed; reset the
         * connection instead of letting the kernel deliver the rest of
         * the queued bytes later, unseen by anyone. */
        struct linger lg = { 1, 0 };
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(t->fd);
    free(t);
}

const kv_transport_ops kv_transport_tcp_ops = {
    .scheme = "tcp",
    .open = tcp_open,
    .write = tcp_write,
    .read = tcp_read,
    .end_job = NULL,
    .close = tcp_close,
};
