/*
 * fdio.h - internal helpers shared by the file-descriptor backends
 * (tcp.c, serial.c, lp.c).  Not part of the public API.
 */
#ifndef KV_DRIVERS_FDIO_H
#define KV_DRIVERS_FDIO_H

#include <stddef.h>
#include <sys/types.h>
#include "drivers/transport.h"

/* Monotonic milliseconds. */
long long kv__now_ms(void);

/* Write all len bytes to the non-blocking fd, failing when no byte is
 * accepted for timeout_ms (an inactivity timeout).  is_socket selects send(MSG_NOSIGNAL).  *written gets the count
 * that went out, also on failure.  Returns KV_T_OK, KV_T_E_TIMEOUT,
 * KV_T_E_DISCONNECTED (peer closed, device gone) or KV_T_E_IO; the cause
 * is put in t's errmsg. */
int kv__fd_write_all(kv_transport *t, int fd, int is_socket, const void *buf,
                     size_t len, size_t *written, int timeout_ms);

/* Read up to len bytes from the non-blocking fd, waiting at most
 * timeout_ms for the first byte.  Returns a count (0 = nothing in time),
 * KV_T_E_DISCONNECTED (peer closed / hang-up) or KV_T_E_IO. */
ssize_t kv__fd_read(kv_transport *t, int fd, int eof_is_disconnect, void *buf,
                    size_t len, int timeout_ms);

/* A zeroed handle of size bytes (the backend's struct, starting with its
 * kv_transport) for the open fd; the caller stores fd in it and frees it
 * with free().  NULL when out of memory: fd is then closed and the cause
 * written to err. */
void *kv__fd_handle_new(size_t size, int fd, char *err, size_t errlen);

/* Map an errno from open() to a status and write the cause + cure. */
int kv__open_errno(int err, const char *what, const char *path, char *msg, size_t msglen);

#endif
