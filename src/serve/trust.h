/*
 * trust.h - which address a request comes from, for the sign-in throttle
 * of the cashier page: the socket's peer, or, when the peer is one of the
 * balancers listed in `[serve] trusted_proxies`, the client that balancer
 * wrote into X-Forwarded-For.
 *
 * A list holds IPv4 and IPv6 addresses and networks ("10.0.0.0/8",
 * "::1", "fd00::/8"), separated by commas or spaces.  X-Forwarded-For is
 * read from the right (each proxy appends the address it saw): the first
 * address that is not a trusted proxy is the client, so a client cannot
 * pick its own address by sending the header itself.  Without a trusted
 * peer the header is ignored.
 *
 * A client is named by its address, IPv6 by its /64 network (one home or
 * phone network holds a /64: counting single addresses would give each
 * attacker 2^64 of them).  IPv4-mapped IPv6 addresses are IPv4.
 *
 * Ownership: the list is the caller's (kv_trust_free).  A parsed list is
 * read-only: any thread may use it at once.
 */
#ifndef KV_SERVE_TRUST_H
#define KV_SERVE_TRUST_H

#include <stddef.h>

typedef enum {
    KV_TRUST_OK = 0,
    KV_TRUST_E_ARG = -1,
    KV_TRUST_E_NOMEM = -2,
    KV_TRUST_E_SYNTAX = -3       /* an entry is no address or network */
} kv_trust_status;

const char *kv_trust_strerror(kv_trust_status st);

typedef struct kv_trust kv_trust;

/* Parse list (NULL or "" is the empty list).  On KV_TRUST_E_SYNTAX, bad
 * (badlen bytes, may be NULL) receives the entry. */
kv_trust_status kv_trust_parse(kv_trust **out, const char *list, char *bad, size_t badlen);
void kv_trust_free(kv_trust *t);

/* 1 when addr (numeric text) is in the list. */
int kv_trust_contains(const kv_trust *t, const char *addr);

/* The client of a request from peer (numeric text) carrying xff (every
 * X-Forwarded-For value joined with ", ", or NULL) into out (len bytes,
 * 64 are enough): "198.51.100.7", "2001:db8:1:2::/64". */
void kv_trust_client(const kv_trust *t, const char *peer, const char *xff, char *out,
                     size_t len);

#endif
