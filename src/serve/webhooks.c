/* webhooks.c - register, list and delete webhook registrations, keeping
 * their secrets in the journal database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/serve/sdb.h"
#include "src/serve/webhooks.h"
#include "src/vipps/vipps.h"

_Static_assert(KV_WEBHOOKS_DEFAULT_EVENTS == (KV_VIPPS_WH_AUTHORIZED | KV_VIPPS_WH_ABORTED |
                                              KV_VIPPS_WH_EXPIRED | KV_VIPPS_WH_CANCELLED |
                                              KV_VIPPS_WH_TERMINATED),
               "default webhook events: those that end a payment's wait");

static const struct {
    const char *name;
    unsigned bit;
} ev_names[] = {
    { "created", KV_VIPPS_WH_CREATED },     { "aborted", KV_VIPPS_WH_ABORTED },
    { "expired", KV_VIPPS_WH_EXPIRED },     { "cancelled", KV_VIPPS_WH_CANCELLED },
    { "captured", KV_VIPPS_WH_CAPTURED },   { "refunded", KV_VIPPS_WH_REFUNDED },
    { "authorized", KV_VIPPS_WH_AUTHORIZED }, { "terminated", KV_VIPPS_WH_TERMINATED },
    { "checked-in", KV_VIPPS_WH_CHECKED_IN },
};

int kv_webhooks_parse_events(unsigned *out, const char *list, char *err, size_t errlen)
{
    if (!list || !*list || !strcmp(list, "default")) {
        *out = KV_WEBHOOKS_DEFAULT_EVENTS;
        return 0;
    }
    if (!strcmp(list, "all")) {
        *out = KV_VIPPS_WH_ALL;
        return 0;
    }
    unsigned bits = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *name = tok;
        if (!strncmp(name, "epayments.payment.", 18))
            name += 18;
        else if (!strncmp(name, "user.", 5))
            name += 5;
        size_t l = strlen(name);
        if (l > 3 && !strcmp(name + l - 3, ".v1"))
            name[l - 3] = '\0';
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof ev_names / sizeof ev_names[0]; i++)
            if (!strcmp(ev_names[i].name, name))
                bit = ev_names[i].bit;
        if (!bit) {
            snprintf(err, errlen, "unknown event '%s'; use all or a list of authorized, "
                     "captured, aborted, expired, cancelled, refunded, created, terminated, checked-in", tok);
            return -1;
        }
        bits |= bit;
    }
    *out = bits;
    return 0;
}

static kv_serve_status client_for(kv_vipps_client **out, const kv_config *cfg,
                                  const kv_store *st, char *err, size_t errlen)
{
    const kv_credentials *cr = kv_config_credentials(cfg, st);
    if (!cr) {
        snprintf(err, errlen, "%s: [store %s] credentials = %s: no such [credentials] section in "
                 "the secrets file", kv_config_path(cfg), st->id, st->credentials);
        return KV_SERVE_E_CONFIG;
    }
    const kv_config_main *m = kv_config_main_get(cfg);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = m->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = st->msn;
    o.partner_keys = cr->partner;
    o.system_name = m->system_name;
    o.system_version = m->system_version;
    o.plugin_name = m->plugin_name;
    o.plugin_version = m->plugin_version;
    if (m->connect_timeout_ms > 0)
        o.connect_timeout_ms = m->connect_timeout_ms;
    if (m->total_timeout_ms > 0)
        o.total_timeout_ms = m->total_timeout_ms;
    o.lang = kv_vipps_lang_from_code(st->language);
    char cerr[256] = "";
    kv_vipps_status vs = kv_vipps_client_create(out, &o, cerr, sizeof cerr);
    if (vs != KV_VIPPS_OK) {
        snprintf(err, errlen, "store %s: %s%s%s", st->id, kv_vipps_strerror(vs),
                 cerr[0] ? ": " : "", cerr);
        return vs == KV_VIPPS_E_NOMEM ? KV_SERVE_E_NOMEM : KV_SERVE_E_CONFIG;
    }
    return KV_SERVE_OK;
}

/* Stores to act for: the named one, or one per (credentials, MSN). */
static kv_serve_status pick_stores(const kv_store ***out, size_t *n, const kv_config *cfg,
                                   const char *store, char *err, size_t errlen)
{
    size_t total = kv_config_store_count(cfg);
    const kv_store **v = calloc(total ? total : 1, sizeof *v);
    if (!v)
        return KV_SERVE_E_NOMEM;
    size_t k = 0;
    if (store) {
        const kv_store *st = kv_config_store(cfg, store);
        if (!st) {
            free(v);
            snprintf(err, errlen, "no store '%s' in %s", store, kv_config_path(cfg));
            return KV_SERVE_E_NOT_FOUND;
        }
        v[k++] = st;
    } else {
        for (size_t i = 0; i < total; i++) {
            const kv_store *st = kv_config_store_at(cfg, i);
            int dup = 0;
            for (size_t j = 0; j < k; j++)
                if (!strcmp(v[j]->credentials, st->credentials) && !strcmp(v[j]->msn, st->msn))
                    dup = 1;
            if (!dup)
                v[k++] = st;
        }
    }
    *out = v;
    *n = k;
    return KV_SERVE_OK;
}

static kv_serve_status api_error(kv_vipps_client *c, kv_vipps_status vs, const kv_store *st,
                                 const char *what, char *err, size_t errlen)
{
    const kv_vipps_error *e = kv_vipps_last_error(c);
    snprintf(err, errlen, "%s for store %s: %s%s%s", what, st->id, kv_vipps_strerror(vs),
             e && e->log[0] ? ": " : "", e ? e->log : "");
    if (vs == KV_VIPPS_E_NOT_FOUND)
        return KV_SERVE_E_NOT_FOUND;
    return vs == KV_VIPPS_E_NOMEM ? KV_SERVE_E_NOMEM : KV_SERVE_E_SERVICE;
}

static kv_serve_status open_sdb(kv_sdb **db, const kv_config *cfg, char *err, size_t errlen)
{
    if (kv_sdb_open(db, kv_config_main_get(cfg)->journal, err, errlen) != KV_SDB_OK)
        return KV_SERVE_E_JOURNAL;
    return KV_SERVE_OK;
}

static char *events_text(unsigned bits, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof ev_names / sizeof ev_names[0]; i++)
        if (bits & ev_names[i].bit) {
            size_t l = strlen(buf);
            snprintf(buf + l, len - l, "%s%s", l ? "," : "", ev_names[i].name);
        }
    return buf;
}

kv_serve_status kv_webhooks_register(kv_wh_entry **out, size_t *nout, const kv_config *cfg,
                                     const char *store, const char *url, unsigned events,
                                     char *err, size_t errlen)
{
    if (!out || !nout || !cfg || !url || !*url)
        return KV_SERVE_E_ARG;
    const kv_store **stores = NULL;
    size_t ns = 0;
    kv_serve_status st = pick_stores(&stores, &ns, cfg, store, err, errlen);
    if (st != KV_SERVE_OK)
        return st;
    kv_sdb *db = NULL;
    kv_wh_entry *v = calloc(ns ? ns : 1, sizeof *v);
    size_t k = 0;
    if (!v) {
        free(stores);
        return KV_SERVE_E_NOMEM;
    }
    st = open_sdb(&db, cfg, err, errlen);
    for (size_t i = 0; st == KV_SERVE_OK && i < ns; i++) {
        kv_vipps_client *c = NULL;
        st = client_for(&c, cfg, stores[i], err, errlen);
        if (st != KV_SERVE_OK)
            break;
        kv_vipps_webhook wh;
        memset(&wh, 0, sizeof wh);
        unsigned ev = events | (events & KV_VIPPS_WH_CHECKED_IN ? 0 : kv_webhooks_sticker_events(cfg, c, stores[i]->msn));
        kv_vipps_status vs = kv_vipps_webhook_register(&wh, c, url, ev);
        if (vs != KV_VIPPS_OK) {
            st = api_error(c, vs, stores[i], "webhook registration", err, errlen);
            kv_vipps_client_destroy(c);
            break;
        }
        kv_vipps_client_destroy(c);
        char evs[200];
        if (kv_sdb_hook_save(db, wh.id, url, wh.secret, events_text(ev, evs, sizeof evs))
            != KV_SDB_OK) {
            snprintf(err, errlen, "registration %s was made but its secret could not be stored "
                     "(%s); delete it with `kvitt webhooks delete --id %s` and retry",
                     wh.id, kv_sdb_errmsg(db), wh.id);
            st = KV_SERVE_E_JOURNAL;
            memset(wh.secret, 0, sizeof wh.secret);
            break;
        }
        memset(wh.secret, 0, sizeof wh.secret);
        kv_wh_entry *e = &v[k++];
        snprintf(e->store, sizeof e->store, "%s", stores[i]->id);
        snprintf(e->msn, sizeof e->msn, "%s", stores[i]->msn);
        snprintf(e->id, sizeof e->id, "%s", wh.id);
        snprintf(e->url, sizeof e->url, "%s", url);
        e->events = ev;
        e->secret_stored = 1;
    }
    kv_sdb_close(db);
    free(stores);
    if (st != KV_SERVE_OK && k == 0) {
        free(v);
        return st;
    }
    /* Partial success still reports what was registered (and the error). */
    *out = v;
    *nout = k;
    return st;
}

kv_serve_status kv_webhooks_list(kv_wh_entry **out, size_t *nout, const kv_config *cfg,
                                 const char *store, char *err, size_t errlen)
{
    if (!out || !nout || !cfg)
        return KV_SERVE_E_ARG;
    const kv_store **stores = NULL;
    size_t ns = 0;
    kv_serve_status st = pick_stores(&stores, &ns, cfg, store, err, errlen);
    if (st != KV_SERVE_OK)
        return st;
    kv_sdb *db = NULL;
    kv_sdb_hook *local = NULL;
    size_t nl = 0;
    st = open_sdb(&db, cfg, err, errlen);
    if (st == KV_SERVE_OK && kv_sdb_hook_list(db, &local, &nl) != KV_SDB_OK) {
        snprintf(err, errlen, "cannot read the journal: %s", kv_sdb_errmsg(db));
        st = KV_SERVE_E_JOURNAL;
    }
    kv_wh_entry *v = NULL;
    size_t k = 0, cap = 0;
    for (size_t i = 0; st == KV_SERVE_OK && i < ns; i++) {
        kv_vipps_client *c = NULL;
        st = client_for(&c, cfg, stores[i], err, errlen);
        if (st != KV_SERVE_OK)
            break;
        kv_vipps_webhook *whs = NULL;
        size_t nw = 0;
        kv_vipps_status vs = kv_vipps_webhook_list(&whs, &nw, c);
        if (vs != KV_VIPPS_OK) {
            st = api_error(c, vs, stores[i], "webhook list", err, errlen);
            kv_vipps_client_destroy(c);
            break;
        }
        kv_vipps_client_destroy(c);
        for (size_t j = 0; j < nw; j++) {
            int dup = 0;
            for (size_t q = 0; q < k; q++)
                if (!strcmp(v[q].id, whs[j].id))
                    dup = 1;
            if (dup)
                continue;
            if (k == cap) {
                size_t nc = cap ? cap * 2 : 8;
                kv_wh_entry *t = realloc(v, nc * sizeof *t);
                if (!t) {
                    st = KV_SERVE_E_NOMEM;
                    break;
                }
                v = t;
                cap = nc;
            }
            kv_wh_entry *e = &v[k++];
            memset(e, 0, sizeof *e);
            snprintf(e->store, sizeof e->store, "%s", stores[i]->id);
            snprintf(e->msn, sizeof e->msn, "%s", stores[i]->msn);
            snprintf(e->id, sizeof e->id, "%s", whs[j].id);
            snprintf(e->url, sizeof e->url, "%s", whs[j].url);
            e->events = whs[j].events;
            for (size_t q = 0; q < nl; q++)
                if (!strcmp(local[q].id, whs[j].id))
                    e->secret_stored = 1;
        }
        free(whs);
    }
    kv_sdb_hooks_free(local, nl);
    kv_sdb_close(db);
    free(stores);
    if (st != KV_SERVE_OK) {
        free(v);
        return st;
    }
    *out = v;
    *nout = k;
    return KV_SERVE_OK;
}

kv_serve_status kv_webhooks_delete(const kv_config *cfg, const char *store, const char *id,
                                   char *err, size_t errlen)
{
    if (!cfg || !id || !*id)
        return KV_SERVE_E_ARG;
    const kv_store **stores = NULL;
    size_t ns = 0;
    kv_serve_status st = pick_stores(&stores, &ns, cfg, store, err, errlen);
    if (st != KV_SERVE_OK)
        return st;
    int deleted = 0;
    for (size_t i = 0; st == KV_SERVE_OK && i < ns && !deleted; i++) {
        kv_vipps_client *c = NULL;
        st = client_for(&c, cfg, stores[i], err, errlen);
        if (st != KV_SERVE_OK)
            break;
        kv_vipps_status vs = kv_vipps_webhook_delete(c, id);
        if (vs == KV_VIPPS_OK)
            deleted = 1;
        else if (vs != KV_VIPPS_E_NOT_FOUND)
            st = api_error(c, vs, stores[i], "webhook delete", err, errlen);
        kv_vipps_client_destroy(c);
    }
    free(stores);
    if (st != KV_SERVE_OK)
        return st;
    kv_sdb *db = NULL;
    st = open_sdb(&db, cfg, err, errlen);
    if (st != KV_SERVE_OK)
        return st;
    kv_sdb_status ds = kv_sdb_hook_delete(db, id);
    kv_sdb_close(db);
    if (!deleted && ds == KV_SDB_E_NOT_FOUND) {
        snprintf(err, errlen, "no webhook registration '%s' is known", id);
        return KV_SERVE_E_NOT_FOUND;
    }
    return KV_SERVE_OK;
}
