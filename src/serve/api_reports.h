/*
 * api_reports.h - the daemon's back-office endpoint (api_reports.c):
 * GET /v1/reports/day, the X report of a day as JSON (src/report).
 * Internal to src/serve.
 */
#ifndef KV_SERVE_API_REPORTS_H
#define KV_SERVE_API_REPORTS_H

#include "src/serve/serve_int.h"

/* GET /v1/reports/day[?date=YYYY-MM-DD][&store=ID][&till=ID]: the till's
 * own store by default; another store of the chain (or, without store=,
 * every store of the chain) only for a till with chain_refund. */
void kv__api_reports_day(kv_serve *s, kv_http_req *r, const kv_till *t);

#endif
