/*
 * webhooks.h - webhook registrations for the daemon (`kvitt webhooks
 * register|list|delete`).
 *
 * A registration belongs to one credential set + MSN.  Registering for
 * every store registers once per distinct (credentials, MSN) pair, so the
 * "one MSN for all stores" pattern gets one registration.  The secret
 * returned by the Webhooks API is stored in the journal database
 * (table serve_webhooks, src/serve/sdb.h): the daemon verifies each
 * delivery's HMAC against the stored secrets and the registered URL.
 * Secrets are never printed or logged.
 *
 * Thread-safety: plain functions, one call at a time per config.
 */
#ifndef KV_SERVE_WEBHOOKS_H
#define KV_SERVE_WEBHOOKS_H

#include <stddef.h>

#include "src/config/config.h"
#include "src/serve/serve.h"

/* One registration as seen by list/register.  Value struct. */
typedef struct kv_wh_entry {
    char store[64];       /* a store using these credentials and MSN */
    char msn[16];
    char id[80];
    char url[1024];
    unsigned events;      /* KV_VIPPS_WH_* bits */
    int secret_stored;    /* 1 when the journal holds its secret */
} kv_wh_entry;

/* The events registered by default: those that end a payment's wait
 * (authorized, aborted, expired, cancelled, terminated).  created,
 * captured and refunded only report what kvitt itself did. */
#define KV_WEBHOOKS_DEFAULT_EVENTS 0xceu

/* Parse "all", "default" (or NULL/"": KV_WEBHOOKS_DEFAULT_EVENTS) or a
 * comma list of event names (authorized, captured, aborted, expired,
 * cancelled, refunded, created, terminated, checked-in, with or without
 * the "epayments.payment." / "user." prefix and ".v1" suffix) into bits.  Returns 0, or
 * -1 with the bad name in err. */
int kv_webhooks_parse_events(unsigned *out, const char *list, char *err, size_t errlen);

/* KV_VIPPS_WH_CHECKED_IN when the journal holds a sticker of this MSN
 * (kvitt sticker create) and no registration of c's sales unit has the
 * event yet (the API allows one), else 0 (webhooks_sticker.c).
 * Registering for a store adds it: the sticker's check-ins reach the
 * daemon. */
struct kv_vipps_client;
unsigned kv_webhooks_sticker_events(const kv_config *cfg, struct kv_vipps_client *c, const char *msn);

/* Register url for the store (NULL = every store, once per credential set
 * and MSN) and store the secrets.  *out is a malloc'd array (free()) of *n
 * new registrations.  url must be an https URL, or http on a loopback
 * host (the simulator). */
kv_serve_status kv_webhooks_register(kv_wh_entry **out, size_t *n, const kv_config *cfg,
                                     const char *store, const char *url, unsigned events,
                                     char *err, size_t errlen);

/* List the registrations known to the Webhooks API for the store (NULL =
 * every store, once per credential set and MSN), marking those whose secret
 * the journal holds.  *out malloc'd (free()). */
kv_serve_status kv_webhooks_list(kv_wh_entry **out, size_t *n, const kv_config *cfg,
                                 const char *store, char *err, size_t errlen);

/* Delete registration id at the Webhooks API (trying the store's
 * credentials, or every store's when store is NULL) and forget its secret.
 * KV_SERVE_E_NOT_FOUND when no credential set knows it. */
kv_serve_status kv_webhooks_delete(const kv_config *cfg, const char *store, const char *id,
                                   char *err, size_t errlen);

#endif
