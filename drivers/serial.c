/* serial.c - RS-232 printers: serial:///dev/ttyUSB0?baud=9600&flow=...
 * Raw mode (no echo, no CR/LF translation, no signals), 8 data bits, no
 * parity, 1 stop bit, receiver on, modem lines ignored (CLOCAL) unless
 * rtscts flow control is asked for. */
#include "drivers/transport.h"
#include "drivers/fdio.h"
#include "drivers/uri.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

typedef struct {
    kv_transport base; /* must be first */
    int fd;
} serial_t;

static speed_t baud_const(unsigned b)
{
    switch (b) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    default: return B0;
    }
}

static int serial_open(kv_transport **out, const char *uri, int timeout_ms,
                       char *err, size_t errlen)
{
    kv_uri u;
    struct termios tio;
    int st = kv_uri_parse(&u, uri, err, errlen);
    if (st)
        return st;
    int fd = open(u.path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return kv__open_errno(errno, "serial port", u.path, err, errlen);
    if (tcgetattr(fd, &tio) < 0) {
        snprintf(err, errlen, "%s is not a serial port (%s): check the device name",
                 u.path, strerror(errno));
        close(fd);
        return KV_T_E_URI;
    }
    cfmakeraw(&tio);
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    tio.c_cflag |= CS8 | CREAD | CLOCAL;
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    if (u.flow == KV_FLOW_RTSCTS)
        tio.c_cflag |= CRTSCTS;
    else if (u.flow == KV_FLOW_XONXOFF)
        tio.c_iflag |= IXON | IXOFF;
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    speed_t sp = baud_const(u.baud);
    if (cfsetispeed(&tio, sp) < 0 || cfsetospeed(&tio, sp) < 0 ||
        tcsetattr(fd, TCSANOW, &tio) < 0) {
        snprintf(err, errlen, "cannot set %u baud 8N1 on %s: %s", u.baud, u.path,
                 strerror(errno));
        close(fd);
        return KV_T_E_IO;
    }
    tcflush(fd, TCIFLUSH); /* drop stale input */
    serial_t *t = kv__fd_handle_new(sizeof *t, fd, err, errlen);
    if (!t)
        return KV_T_E_NOMEM;
    t->fd = fd;
    *out = &t->base;
    return KV_T_OK;
}

static int serial_write(kv_transport *bt, const void *buf, size_t len, size_t *written,
                        int timeout_ms)
{
    serial_t *t = (serial_t *)bt;
    int st = kv__fd_write_all(bt, t->fd, 0, buf, len, written, timeout_ms);
    if (st == KV_T_E_TIMEOUT)
        kv__transport_seterr(bt, "serial printer accepted only %zu of %zu bytes, then nothing "
                             "for %d ms: "
                             "check the cable, the baud rate and the flow control setting "
                             "(the printer may be holding CTS or sent XOFF)",
                             *written, len, timeout_ms);
    return st;
}

static ssize_t serial_read(kv_transport *bt, void *buf, size_t len, int timeout_ms)
{
    serial_t *t = (serial_t *)bt;
    return kv__fd_read(bt, t->fd, 0, buf, len, timeout_ms);
}

static void serial_close(kv_transport *bt)
{
    serial_t *t = (serial_t *)bt;
    if (!t)
        return;
    close(t->fd);
    free(t);
}

const kv_transport_ops kv_transport_serial_ops = {
    .scheme = "serial",
    .open = serial_open,
    .write = serial_write,
    .read = serial_read,
    .end_job = NULL,
    .close = serial_close,
};
