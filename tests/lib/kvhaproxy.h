/* kvhaproxy.h - HAProxy in front of several `kvitt serve` instances on
 * loopback, as tests/test_chain_failover.c and tests/bench_serve.c run it:
 * round robin, health check GET /readyz, sessions of a server marked down
 * shut.  No state; the caller owns every buffer. */
#ifndef KVT_HAPROXY_H
#define KVT_HAPROXY_H

#include <stddef.h>

#define KVT_HAPROXY "/usr/sbin/haproxy"

/* Writes the configuration text for a balancer on 127.0.0.1:lb_port in
 * front of 127.0.0.1:ports[0..n-1] (n <= 26) into buf.  Returns its length,
 * or -1 when buf is too small. */
int kvt_haproxy_config(char *buf, size_t len, int lb_port, const int *ports, int n);

#endif
