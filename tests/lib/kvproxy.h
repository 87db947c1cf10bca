/*
 * kvproxy.h - helpers for the `kvitt proxy` suites: a real `kvitt sim`
 * (tests/lib/kvflow.h), a real `kvitt vprinter` on loopback TCP as the
 * printer, a real `kvitt proxy` process, and a till helper that writes
 * recorded receipts the way a till does (a TCP connection, or a serial
 * pseudo-terminal), with status queries.  Nothing is mocked.
 */
#ifndef KV_TESTS_KVPROXY_H
#define KV_TESTS_KVPROXY_H

#include <stddef.h>

#include "tests/lib/kvflow.h"

typedef struct kvp_env {
    kvf_env f;
    kvt_proc *vp;        /* kvitt vprinter */
    char vp_uri[128];
    char vp_dir[700];
    kvt_proc *px;        /* kvitt proxy */
    char px_addr[600];   /* what the proxy printed: tcp://..., serial://... */
} kvp_env;

/* Start the simulator (sim_args as kvf_start), a vprinter in DIR/vp and
 * append [proxy till-1] with listen (NULL = tcp://127.0.0.1:0), the
 * vprinter as printer, match and extra lines (may be NULL).  Does not
 * start the proxy.  Returns 0 or -1. */
int kvp_setup(kvp_env *e, const char *name, const char *const sim_args[], const char *listen,
              const char *match, const char *extra);
/* Start `kvitt proxy till-1` and read its address line.  0 or -1. */
int kvp_proxy_start(kvp_env *e);
/* Stop the proxy with sig (SIGTERM, or SIGKILL for a crash). */
void kvp_proxy_stop(kvp_env *e, int sig);
void kvp_teardown(kvp_env *e);

/* Number of jobs the vprinter filed; job i (1-based) read into *buf. */
int kvp_jobs(kvp_env *e);
int kvp_job(kvp_env *e, int i, unsigned char **buf, size_t *len);
/* Wait (polling, at most timeout_ms) until the vprinter filed n jobs.
 * Returns the count reached. */
int kvp_wait_jobs(kvp_env *e, int n, int timeout_ms);
/* Write a state name to the vprinter's control file (paper-out, ok). */
int kvp_printer_state(kvp_env *e, const char *state);

/* The till: connect to the proxy's TCP address.  Returns the fd or -1. */
int kvp_till_connect(kvp_env *e);
/* Connect to a tcp://HOST:PORT URI on loopback.  The fd or -1. */
int kvp_connect_uri(const char *uri);
/* Write all bytes (fd from kvp_till_connect or a pty master). 0 / -1. */
int kvp_till_write(int fd, const void *buf, size_t len);
/* Send a 3-byte status query and read one reply byte (timeout_ms);
 * returns the byte or -1. */
int kvp_till_query(int fd, const unsigned char q[3], int timeout_ms);

/* A TCP socket listening on 127.0.0.1 at a free port (*port); -1. */
int kvp_listen_loopback(int *port);

/* 1 when hay[0..n) contains needle[0..m). */
int kvp_has(const unsigned char *hay, size_t n, const void *needle, size_t m);

#endif
