/* lp.c - any character device: lp:///dev/usb/lp0 (usblp), parallel ports.
 * Writes go through poll() with a timeout; replies (DLE EOT) are read back
 * when the device allows reading (usblp on a bidirectional interface). */
#include "drivers/transport.h"
#include "drivers/fdio.h"
#include "drivers/uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    kv_transport base; /* must be first */
    int fd;
    int can_read;
} lp_t;

static int lp_open(kv_transport **out, const char *uri, int timeout_ms,
                   char *err, size_t errlen)
{
    kv_uri u;
    struct stat sb;
    int st = kv_uri_parse(&u, uri, err, errlen);
    if (st)
        return st;
    int can_read = 1;
    int fd = open(u.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EINVAL || errno == EROFS)) {
        fd = open(u.path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        can_read = 0;
    }
    if (fd < 0)
        return kv__open_errno(errno, "printer device", u.path, err, errlen);
    if (fstat(fd, &sb) < 0 || !S_ISCHR(sb.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s is not a character device: lp:// needs a printer device "
                 "such as /dev/usb/lp0 (for a file use virtual:DIR)", u.path);
        return KV_T_E_URI;
    }
    lp_t *t = kv__fd_handle_new(sizeof *t, fd, err, errlen);
    if (!t)
        return KV_T_E_NOMEM;
    t->fd = fd;
    t->can_read = can_read;
    t->base.no_readback = !can_read;
    *out = &t->base;
    return KV_T_OK;
}

static int lp_write(kv_transport *bt, const void *buf, size_t len, size_t *written,
                    int timeout_ms)
{
    lp_t *t = (lp_t *)bt;
    return kv__fd_write_all(bt, t->fd, 0, buf, len, written, timeout_ms);
}

static ssize_t lp_read(kv_transport *bt, void *buf, size_t len, int timeout_ms)
{
    lp_t *t = (lp_t *)bt;
    if (!t->can_read)
        return 0; /* opened write-only: no replies can arrive */
    ssize_t n = kv__fd_read(bt, t->fd, 0, buf, len, timeout_ms);
    if (n == KV_T_E_IO && (errno == EINVAL || errno == EOPNOTSUPP)) {
        t->can_read = 0; /* unidirectional device */
        bt->no_readback = 1;
        return 0;
    }
    return n;
}

static void lp_close(kv_transport *bt)
{
    lp_t *t = (lp_t *)bt;
    if (!t)
        return;
    close(t->fd);
    free(t);
}

const kv_transport_ops kv_transport_lp_ops = {
    .scheme = "lp",
    .open = lp_open,
    .write = lp_write,
    .read = lp_read,
    .end_job = NULL,
    .close = lp_close,
};
