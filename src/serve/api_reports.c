/* api_reports.c - GET /v1/reports/day (api_reports.h). */
#include "src/serve/api_reports.h"

#include <stdlib.h>
#include <string.h>

#include "src/report/report.h"

typedef struct scope {
    const kv_config *cfg;
    const char *store;        /* one store, or NULL with chain */
    const char *chain;        /* the till's chain ("" = none) */
} scope;

static int keep(void *user, const char *store)
{
    const scope *sc = user;
    if (sc->store)
        return strcmp(store, sc->store) == 0;
    const kv_store *st = kv_config_store(sc->cfg, store);
    return st && sc->chain[0] && strcmp(st->chain, sc->chain) == 0;
}

void kv__api_reports_day(kv_serve *s, kv_http_req *r, const kv_till *t)
{
    const char *date = kv_http_query(r, "date");
    const char *store = kv_http_query(r, "store");
    const char *till = kv_http_query(r, "till");
    int64_t from, to;
    if (date && *date && kv_report_day_bounds(date, &from, &to)) {
        kv_http_reply_error(r, 400, "invalid_request", "date must be a day like 2026-11-25");
        return;
    }
    if (store && *store && !kv_config_store(s->cfg, store)) {
        kv_http_reply_error(r, 404, "not_found", "no such store");
        return;
    }
    const kv_store *own = kv_config_store(s->cfg, t->store);
    scope sc = { s->cfg, t->store, own ? own->chain : "" };
    if (store && *store && strcmp(store, t->store)) {
        const kv_store *other = kv_config_store(s->cfg, store);
        if (!t->chain_refund || !sc.chain[0] || strcmp(other->chain, sc.chain)) {
            kv_http_reply_error(r, 403, "forbidden",
                                "this till may see only its own store's report (chain_refund allows its chain)");
            return;
        }
        sc.store = store;
    } else if ((!store || !*store) && t->chain_refund && sc.chain[0]) {
        sc.store = NULL; /* every store of the chain */
    }
    kv_report_query q = { date && *date ? date : NULL, sc.store, till && *till ? till : NULL };
    kv_report *rep = NULL;
    kv_report_status st = kv_report_day(&rep, kv_flow_journal(s->flow), &q);
    if (st) {
        kv_http_reply_error(r, st == KV_REPORT_E_ARG ? 400 : 500, st == KV_REPORT_E_ARG ? "invalid_request" : "internal",
                            "%s", kv_report_strerror(st));
        return;
    }
    char *text = kv_report_json_text(rep, keep, &sc);
    kv_report_free(rep);
    if (!text) {
        kv_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    kv_http_reply(r, 200, "application/json", text, strlen(text));
    free(text);
}
