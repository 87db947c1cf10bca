/* sim_report.c - the simulator's Report API (settlement ledgers, funds and
 * fees entries by ledger date and as a feed) and its test controls.
 *
 * Entries are materialised from the payments' own event logs: every
 * successful ePayment CAPTURED / REFUNDED (eCom CAPTURE / REFUND) becomes a
 * funds entry (capture +amount, refund -amount) with the event's
 * pspReference and time, and every capture a fees entry (capture-fee,
 * fee_bp of the amount).  An entry gets a feed sequence number when it is
 * first materialised, so the feed order never changes.  Its ledger date is
 * the local date (TZ) of its time minus the cut-off; a date that is
 * already closed passes the entry on to the next date.  Closing a date
 * (automatically close_delay_s after the next cut-off, or by the control
 * endpoint) adds fees-retained and payout-scheduled entries: the payout.
 * Until then the date answers tryLater: true.
 *
 * Every function runs with s->mu held (sim_handle takes it).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

typedef struct rep_entry {
    long seq;
    char msn[16];
    int fees;                  /* 0 funds, 1 fees */
    char type[24];
    char psp[40];
    char ref[64];
    char currency[4];
    long long amount;
    double t;
    char date[11];
    int hidden;                /* dropped by a test control */
} rep_entry;

typedef struct rep_seen {
    const sim_payment *p;
    size_t nev;                /* events already materialised */
} rep_seen;

typedef struct rep_close {
    char msn[16];
    char date[11];
    double at;
} rep_close;

struct sim_report {
    rep_entry *e;
    size_t n, cap;
    rep_seen *seen;            /* open addressing on the payment pointer */
    size_t seen_cap, seen_n;
    rep_close *closes;
    size_t nclose, close_cap;
    long seq;
    int page_size;             /* items per page, default 100 */
    int cutoff_min;            /* minutes after local midnight, default 0 */
    int fee_bp;                /* capture fee in basis points, default 175 */
    int close_delay_s;         /* auto close this long after the cut-off, default 21600 */
    double clock_offset_s;     /* the report clock runs this far ahead (tests) */
};

static sim_report *rep(kv_sim *s)
{
    if (!s->report) {
        s->report = calloc(1, sizeof *s->report);
        if (s->report) {
            s->report->page_size = 100;
            s->report->fee_bp = 175;
            s->report->close_delay_s = 6 * 3600;
        }
    }
    return s->report;
}

void sim_report_free(kv_sim *s)
{
    if (!s->report)
        return;
    free(s->report->e);
    free(s->report->seen);
    free(s->report->closes);
    free(s->report);
    s->report = NULL;
}

/* ---- dates ---- */

static void local_date(double t, int cutoff_min, char out[11])
{
    time_t x = (time_t)t - (time_t)cutoff_min * 60;
    struct tm tm;
    localtime_r(&x, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Local time of "date + days" at the cut-off. */
static double date_cutoff(const char *date, int days, int cutoff_min)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!strptime(date, "%Y-%m-%d", &tm))
        return 0;
    tm.tm_mday += days;
    tm.tm_min = cutoff_min;
    tm.tm_isdst = -1;
    return (double)mktime(&tm);
}

static void next_date(const char *date, char out[11])
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    strptime(date, "%Y-%m-%d", &tm);
    tm.tm_mday += 1;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    time_t x = mktime(&tm);
    localtime_r(&x, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int valid_date(const char *d)
{
    if (strlen(d) != 10)
        return 0;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? d[i] != '-' : !isdigit((unsigned char)d[i]))
            return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(d, "%Y-%m-%d", &tm);
    return end && !*end;
}

static const rep_close *closed(sim_report *R, const char *msn, const char *date)
{
    for (size_t i = 0; i < R->nclose; i++)
        if (!strcmp(R->closes[i].msn, msn) && !strcmp(R->closes[i].date, date))
            return &R->closes[i];
    return NULL;
}

/* ---- materialising ---- */

static rep_entry *add_entry(sim_report *R, const char *msn, int fees, const char *type, const char *psp,
                            const char *ref, const char *cur, long long amount, double t, const char *date)
{
    if (R->n == R->cap) {
        size_t nc = R->cap ? R->cap * 2 : 256;
        rep_entry *ne = realloc(R->e, nc * sizeof *ne);
        if (!ne)
            return NULL;
        R->e = ne;
        R->cap = nc;
    }
    rep_entry *e = &R->e[R->n++];
    memset(e, 0, sizeof *e);
    e->seq = ++R->seq;
    snprintf(e->msn, sizeof e->msn, "%s", msn);
    e->fees = fees;
    snprintf(e->type, sizeof e->type, "%s", type);
    snprintf(e->psp, sizeof e->psp, "%s", psp);
    snprintf(e->ref, sizeof e->ref, "%s", ref);
    snprintf(e->currency, sizeof e->currency, "%s", cur && *cur ? cur : "NOK");
    e->amount = amount;
    e->t = t;
    if (date)
        snprintf(e->date, sizeof e->date, "%s", date);
    else {
        local_date(t, R->cutoff_min, e->date);
        const rep_close *c;
        while ((c = closed(R, msn, e->date)) && c->at <= t) {
            char nd[11];
            next_date(e->date, nd);
            memcpy(e->date, nd, sizeof nd);
        }
    }
    return e;
}

static rep_seen *seen_slot(sim_report *R, const sim_payment *p)
{
    if (R->seen_n * 2 >= R->seen_cap) {
        size_t nc = R->seen_cap ? R->seen_cap * 2 : 1024;
        rep_seen *ns = calloc(nc, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < R->seen_cap; i++) {
            if (!R->seen[i].p)
                continue;
            size_t h = ((size_t)R->seen[i].p >> 4) % nc;
            while (ns[h].p)
                h = (h + 1) % nc;
            ns[h] = R->seen[i];
        }
        free(R->seen);
        R->seen = ns;
        R->seen_cap = nc;
    }
    size_t h = ((size_t)p >> 4) % R->seen_cap;
    while (R->seen[h].p && R->seen[h].p != p)
        h = (h + 1) % R->seen_cap;
    if (!R->seen[h].p) {
        R->seen[h].p = p;
        R->seen_n++;
    }
    return &R->seen[h];
}

static double parse_ts(const char *ts)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    double frac = 0;
    if (end && *end == '.')
        frac = strtod(end, NULL);
    return (double)timegm(&tm) + frac;
}

/* Materialise new capture/refund events (oldest payments first so the
 * feed follows time), then close the dates whose time has come. */
static void sync(kv_sim *s, sim_report *R, double now)
{
    size_t np = 0;
    for (sim_payment *p = s->pay; p; p = p->next)
        np++;
    sim_payment **v = np ? malloc(np * sizeof *v) : NULL;
    if (np && !v)
        return;
    size_t i = np;
    for (sim_payment *p = s->pay; p; p = p->next)
        v[--i] = p; /* the list is newest first */
    for (i = 0; i < np; i++) {
        sim_payment *p = v[i];
        rep_seen *sn = seen_slot(R, p);
        if (!sn)
            break;
        for (; sn->nev < p->nev; sn->nev++) {
            const sim_event *ev = &p->ev[sn->nev];
            if (!ev->success)
                continue;
            int cap = !strcmp(ev->name, "CAPTURED") || !strcmp(ev->name, "CAPTURE");
            int ref = !strcmp(ev->name, "REFUNDED") || !strcmp(ev->name, "REFUND");
            if (!cap && !ref)
                continue;
            double t = parse_ts(ev->ts);
            rep_entry *e = add_entry(R, p->msn, 0, cap ? "capture" : "refund", ev->psp, p->ref, p->currency,
                                     cap ? ev->value : -ev->value, t, NULL);
            if (e && cap) {
                char date[11];
                memcpy(date, e->date, sizeof date);
                add_entry(R, p->msn, 1, "capture-fee", ev->psp, p->ref, p->currency,
                          (ev->value * R->fee_bp + 5000) / 10000, t, date);
            }
        }
    }
    free(v);
    (void)now;
}

static int do_close(kv_sim *s, sim_report *R, const char *msn, const char *date, double at)
{
    if (closed(R, msn, date))
        return 0;
    long long funds = 0, fees = 0;
    const char *cur = "NOK";
    for (size_t i = 0; i < R->n; i++) {
        rep_entry *e = &R->e[i];
        if (e->hidden || strcmp(e->msn, msn) || strcmp(e->date, date))
            continue;
        if (e->fees)
            fees += e->amount;
        else
            funds += e->amount;
        cur = e->currency;
    }
    char psp[40];
    char c[4];
    snprintf(c, sizeof c, "%s", cur);
    snprintf(psp, sizeof psp, "%llu", 9000000000ULL + (unsigned long long)R->seq);
    add_entry(R, msn, 0, "fees-retained", psp, "", c, -fees, at, date);
    add_entry(R, msn, 1, "fees-retained", psp, "", c, -fees, at, date);
    snprintf(psp, sizeof psp, "%llu", 9000000000ULL + (unsigned long long)R->seq);
    add_entry(R, msn, 0, "payout-scheduled", psp, "", c, -(funds - fees), at, date);
    if (R->nclose == R->close_cap) {
        size_t nc = R->close_cap ? R->close_cap * 2 : 16;
        rep_close *n = realloc(R->closes, nc * sizeof *n);
        if (!n)
            return -1;
        R->closes = n;
        R->close_cap = nc;
    }
    rep_close *cl = &R->closes[R->nclose++];
    snprintf(cl->msn, sizeof cl->msn, "%s", msn);
    snprintf(cl->date, sizeof cl->date, "%s", date);
    cl->at = at;
    (void)s;
    return 0;
}

/* Close automatically every date of an MSN with entries whose cut-off +
 * delay has passed. */
static void auto_close(kv_sim *s, sim_report *R, double now)
{
    for (size_t i = 0; i < R->n; i++) {
        rep_entry *e = &R->e[i];
        if (closed(R, e->msn, e->date))
            continue;
        if (now >= date_cutoff(e->date, 1, R->cutoff_min) + R->close_delay_s) {
            char msn[16], date[11];
            memcpy(msn, e->msn, sizeof msn);
            memcpy(date, e->date, sizeof date);
            do_close(s, R, msn, date, now);
        }
    }
}

/* ---- answers ---- */

static const char *const ledger_prefix = "7";

static int msn_allowed(int cred, const char *msn)
{
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    for (size_t i = 0; i < n; i++)
        if (!c[i].partner && !strcmp(c[i].msn, msn))
            return c[cred].partner || !strcmp(c[cred].msn, msn);
    return 0;
}

static void entry_json(cJSON *a, const rep_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    char ts[40], rh[24];
    sim_rfc3339(e->t, ts);
    snprintf(rh, sizeof rh, "api:%s", e->msn);
    cJSON_AddStringToObject(o, "pspReference", e->psp);
    cJSON_AddStringToObject(o, "time", ts);
    cJSON_AddStringToObject(o, "ledgerDate", e->date);
    cJSON_AddStringToObject(o, "entryType", e->type);
    cJSON_AddStringToObject(o, "reference", e->ref);
    cJSON_AddStringToObject(o, "currency", e->currency);
    cJSON_AddNumberToObject(o, "amount", (double)e->amount);
    cJSON_AddStringToObject(o, "recipientHandle", rh);
    cJSON_AddItemToArray(a, o);
}

/* Cursor: base64url of {"after":N} (the last sequence number given). */
static char *make_cursor(long after)
{
    char j[48];
    snprintf(j, sizeof j, "{\"after\":%ld}", after);
    return sim_b64((const unsigned char *)j, strlen(j), 1);
}

static int read_cursor(const char *c, long *after)
{
    *after = 0;
    if (!c || !*c)
        return 0;
    /* decode base64url */
    size_t n = strlen(c);
    if (n > 200)
        return -1;
    unsigned char out[160];
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *pch = strchr(tab, c[i]);
        if (c[i] == '=')
            break;
        if (!pch || !c[i])
            return -1;
        v = (v << 6) | (unsigned)(pch - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= sizeof out)
                return -1;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    out[o] = 0;
    return sscanf((char *)out, "{\"after\":%ld}", after) == 1 && *after >= 0 ? 0 : -1;
}

static void ledgers(kv_sim *s, const sim_req *rq, sim_resp *r, int cred)
{
    const char *filter = sim_query(rq, "settlesForRecipientHandles");
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < n; i++) {
        if (c[i].partner || !msn_allowed(cred, c[i].msn))
            continue;
        char h[24], id[24];
        snprintf(h, sizeof h, "api:%s", c[i].msn);
        if (filter && strcmp(filter, h))
            continue;
        snprintf(id, sizeof id, "%s%s", ledger_prefix, c[i].msn);
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "ledgerId", id);
        cJSON_AddStringToObject(l, "currency", "NOK");
        cJSON *b = cJSON_AddObjectToObject(l, "payoutBankAccount");
        cJSON_AddStringToObject(b, "scheme", "BBAN:NO");
        cJSON_AddStringToObject(b, "id", "86011117947");
        cJSON *ow = cJSON_AddObjectToObject(l, "owner");
        cJSON_AddStringToObject(ow, "scheme", "business:NO:ORG");
        cJSON_AddStringToObject(ow, "id", "923609016");
        cJSON *hs = cJSON_AddArrayToObject(l, "settlesForRecipientHandles");
        cJSON_AddItemToArray(hs, cJSON_CreateString(h));
        cJSON_AddItemToArray(items, l);
    }
    cJSON_AddStringToObject(o, "cursor", "");
    (void)s;
    sim_resp_json(r, 200, o);
}

static void entries(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, char **seg, int nseg)
{
    /* report v2 ledgers {id} {topic} dates {date} | feed */
    sim_report *R = rep(s);
    if (!R) {
        sim_apim_error(r, 500, "Internal server error");
        return;
    }
    const char *inst = rq->path;
    const char *id = seg[3], *topic = seg[4];
    if (strncmp(id, ledger_prefix, strlen(ledger_prefix)) != 0 || !msn_allowed(cred, id + 1)) {
        sim_problem(s, r, 403, "Forbidden", "These keys have no access to this ledger", inst, NULL);
        return;
    }
    const char *msn = id + 1;
    int fees = !strcmp(topic, "fees");
    if (!fees && strcmp(topic, "funds")) {
        sim_problem_field(s, r, 400, "topic must be funds or fees", inst, "topic");
        return;
    }
    long after;
    if (read_cursor(sim_query(rq, "cursor"), &after)) {
        sim_problem_field(s, r, 400, "The cursor is not valid", inst, "cursor");
        return;
    }
    double now = sim_now() + R->clock_offset_s;
    sync(s, R, now);
    auto_close(s, R, now);
    int feed = nseg == 6 && !strcmp(seg[5], "feed");
    const char *date = feed ? NULL : seg[6];
    if (!feed) {
        if (!valid_date(date)) {
            sim_problem_field(s, r, 400, "ledgerDate must be a date YYYY-MM-DD", inst, "ledgerDate");
            return;
        }
        char today[11];
        local_date(now, R->cutoff_min, today);
        if (strcmp(date, today) > 0) {
            sim_problem(s, r, 404, "Not Found", "The report for this date is not available yet", inst, NULL);
            return;
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    int given = 0, more = 0;
    long last = after;
    for (size_t i = 0; i < R->n; i++) {
        const rep_entry *e = &R->e[i];
        if (e->seq <= after || e->hidden || e->fees != fees || strcmp(e->msn, msn) ||
            (date && strcmp(e->date, date)))
            continue;
        if (given == R->page_size) {
            more = 1;
            break;
        }
        entry_json(items, e);
        last = e->seq;
        given++;
    }
    char *cur = make_cursor(last);
    if (feed) {
        cJSON_AddStringToObject(o, "cursor", cur ? cur : "");
        cJSON_AddBoolToObject(o, "tryLater", !more && given == 0);
    } else {
        if (more)
            cJSON_AddStringToObject(o, "cursor", cur ? cur : "");
        cJSON_AddBoolToObject(o, "hasMore", more);
        cJSON_AddBoolToObject(o, "tryLater", !closed(R, msn, date));
    }
    free(cur);
    sim_resp_json(r, 200, o);
}

void sim_report_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn, char **seg,
                      int nseg)
{
    (void)msn;
    if (strcmp(rq->method, "GET")) {
        sim_apim_error(r, 404, "Resource not found");
        return;
    }
    if (nseg == 3 && !strcmp(seg[0], "settlement") && !strcmp(seg[1], "v1") && !strcmp(seg[2], "ledgers")) {
        ledgers(s, rq, r, cred);
        return;
    }
    if (!strcmp(seg[0], "report") && nseg >= 6 && !strcmp(seg[1], "v2") && !strcmp(seg[2], "ledgers") &&
        ((nseg == 6 && !strcmp(seg[5], "feed")) || (nseg == 7 && !strcmp(seg[5], "dates")))) {
        entries(s, rq, r, cred, seg, nseg);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

/* ---- test controls: POST /sim/v1/report/{config|close|entries} ---- */

void sim_report_control(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg)
{
    sim_report *R = rep(s);
    cJSON *b = rq->body && *rq->body ? cJSON_Parse(rq->body) : cJSON_CreateObject();
    if (!R || !cJSON_IsObject(b) || nseg != 4 || strcmp(rq->method, "POST")) {
        cJSON_Delete(b);
        sim_resp_text(r, !R ? 500 : 400, "text/plain", "POST /sim/v1/report/config|close|entries with a JSON object\n");
        return;
    }
    double now = sim_now() + R->clock_offset_s;
    sync(s, R, now);
    const char *what = seg[3];
    int ok = 1;
    if (!strcmp(what, "config")) {
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(b, "pageSize");
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(b, "feeBasisPoints");
        const cJSON *cd = cJSON_GetObjectItemCaseSensitive(b, "closeDelayS");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(b, "clockOffsetS");
        if (cJSON_IsNumber(off) && off->valuedouble >= 0 && off->valuedouble <= 366.0 * 86400)
            R->clock_offset_s = off->valuedouble;
        else if (off)
            ok = 0;
        const char *co = sim_json_str(b, "cutoff");
        int hh, mm;
        if (cJSON_IsNumber(ps) && ps->valuedouble >= 1 && ps->valuedouble <= 10000)
            R->page_size = (int)ps->valuedouble;
        else if (ps)
            ok = 0;
        if (cJSON_IsNumber(fb) && fb->valuedouble >= 0 && fb->valuedouble <= 10000)
            R->fee_bp = (int)fb->valuedouble;
        else if (fb)
            ok = 0;
        if (cJSON_IsNumber(cd) && cd->valuedouble >= 0)
            R->close_delay_s = (int)cd->valuedouble;
        else if (cd)
            ok = 0;
        if (co && sscanf(co, "%d:%d", &hh, &mm) == 2 && hh >= 0 && hh < 24 && mm >= 0 && mm < 60)
            R->cutoff_min = hh * 60 + mm;
        else if (co)
            ok = 0;
    } else if (!strcmp(what, "close")) {
        const char *msn = sim_json_str(b, "msn"), *date = sim_json_str(b, "date");
        char today[11];
        local_date(now, R->cutoff_min, today);
        if (!date)
            date = today;
        if (!valid_date(date)) {
            ok = 0;
        } else {
            size_t n;
            const kv_sim_cred *c = sim_creds(&n);
            for (size_t i = 0; i < n; i++)
                if (!c[i].partner && (!msn || !strcmp(msn, c[i].msn)))
                    do_close(s, R, c[i].msn, date, now);
        }
    } else if (!strcmp(what, "entries")) {
        /* {"action":"add","msn","entryType","reference","amount"[,"date"]} |
         * {"action":"amount"|"drop","reference","entryType","amount"} */
        const char *act = sim_json_str(b, "action"), *ref = sim_json_str(b, "reference");
        const char *type = sim_json_str(b, "entryType");
        const cJSON *am = cJSON_GetObjectItemCaseSensitive(b, "amount");
        if (!act || !ref || !type) {
            ok = 0;
        } else if (!strcmp(act, "add")) {
            const char *msn = sim_json_str(b, "msn");
            char psp[40];
            snprintf(psp, sizeof psp, "%llu", 8000000000ULL + (unsigned long long)R->seq);
            const char *date = sim_json_str(b, "date"); /* a ledger date of its own (even a closed one) */
            if (!msn || !cJSON_IsNumber(am) || (date && !valid_date(date)))
                ok = 0;
            else
                ok = add_entry(R, msn, 0, type, psp, ref, "NOK", (long long)am->valuedouble, now, date) != NULL;
        } else {
            int hit = 0;
            for (size_t i = 0; i < R->n; i++) {
                rep_entry *e = &R->e[i];
                if (e->fees || strcmp(e->ref, ref) || strcmp(e->type, type))
                    continue;
                if (!strcmp(act, "drop"))
                    e->hidden = 1;
                else if (!strcmp(act, "amount") && cJSON_IsNumber(am))
                    e->amount = (long long)am->valuedouble;
                else
                    break;
                hit = 1;
            }
            ok = hit;
        }
    } else {
        ok = 0;
    }
    cJSON_Delete(b);
    if (ok)
        sim_resp_text(r, 204, NULL, NULL);
    else
        sim_resp_text(r, 400, "text/plain", "bad report control request (see sim/sim.h)\n");
}
