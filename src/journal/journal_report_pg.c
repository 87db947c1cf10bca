/* journal_report_pg.c - the back office's tables on a PostgreSQL journal
 * (journal_report_pg.h). */
#include "src/journal/journal_report_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define PS kv_jpg_param_str
#define PI kv_jpg_param_int

/* A read: its rows in *out (PQclear), the connection already given back. */
static kv_journal_status rows(kv_jpg *p, PGresult **out, const char *sql, const kv_jpg_params *pv)
{
    kv_journal_status st;
    kv_jpg_conn *c = kv_jpg_read_begin(p, &st);
    if (!c)
        return st;
    st = kv_jpg_exec(c, out, sql, pv);
    kv_jpg_read_end(c);
    return st;
}

/* The number of rows a command changed (its command tag). */
static int64_t changed(PGresult *r)
{
    return strtoll(PQcmdTuples(r), NULL, 10);
}

/* Three text parameters (the strings stay the caller's). */
static kv_jpg_params texts3(const char *a, const char *b, const char *c)
{
    kv_jpg_params pv = { .n = 0 };
    PS(&pv, a);
    PS(&pv, b);
    PS(&pv, c);
    return pv;
}

kv_journal_status kv_jrpg_each_payment(kv_jpg *p, int64_t from, int64_t to, kv_journal_pay_fn fn, void *user)
{
    kv_jpg_params pv = { .n = 0 };
    PI(&pv, from);
    PI(&pv, to);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT " KV_JPG_PAY_COLS " FROM payments"
                                " WHERE created_at >= $1::bigint AND created_at < $2::bigint"
                                " ORDER BY created_at, seq", &pv);
    if (st)
        return st;
    kv_payment *pay = malloc(sizeof *pay);
    if (!pay) {
        PQclear(r);
        return KV_J_E_NOMEM;
    }
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        kv_jpg_read_payment(pay, r, i);
        if (fn(user, pay))
            break;
    }
    free(pay);
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jrpg_each_money_op(kv_jpg *p, int64_t from, int64_t to, kv_journal_money_fn fn,
                                        void *user)
{
    kv_jpg_params pv = { .n = 0 };
    PI(&pv, from);
    PI(&pv, to);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT o.id, o.reference, o.kind, o.seq, o.idem_key, o.amount, o.result,"
                                " o.created_at, o.answered_at, p.store_id, p.till_id, p.msn, p.currency,"
                                " p.psp_reference FROM operations o JOIN payments p ON p.reference = o.reference"
                                " WHERE o.result = 'ok' AND o.kind IN ('capture', 'refund')"
                                " AND ((o.answered_at >= $1::bigint AND o.answered_at < $2::bigint)"
                                "      OR (o.answered_at = 0 AND o.created_at >= $1::bigint"
                                "          AND o.created_at < $2::bigint))"
                                " ORDER BY o.id", &pv);
    if (st)
        return st;
    kv_journal_money_row m;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        memset(&m, 0, sizeof m);
        kv_jpg_read_op(&m.op, r, i);
        kv_jpg_col(m.store_id, sizeof m.store_id, r, i, 9);
        kv_jpg_col(m.till_id, sizeof m.till_id, r, i, 10);
        kv_jpg_col(m.msn, sizeof m.msn, r, i, 11);
        kv_jpg_col(m.currency, sizeof m.currency, r, i, 12);
        kv_jpg_col(m.psp_reference, sizeof m.psp_reference, r, i, 13);
        m.at = m.op.answered_at > 0 ? m.op.answered_at : m.op.created_at;
        if (fn(user, &m))
            break;
    }
    PQclear(r);
    return KV_J_OK;
}

/* The Z row of (store, till, day) on connection c. */
static kv_journal_status z_row(kv_jpg_conn *c, const char *store, const char *till, const char *day,
                               int64_t *z_number, int64_t *closed_at, int *printed, char **figures)
{
    kv_jpg_params pv = texts3(store, till, day);
    PGresult *r = NULL;
    kv_journal_status st = kv_jpg_exec(c, &r, "SELECT z_number, closed_at, figures, printed FROM z_reports"
                                       " WHERE store_id = $1 AND till_id = $2 AND day = $3", &pv);
    if (st)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return KV_J_E_NOT_FOUND;
    }
    if (z_number)
        *z_number = kv_pg_i64(r, 0, 0);
    if (closed_at)
        *closed_at = kv_pg_i64(r, 0, 1);
    if (printed)
        *printed = (int)kv_pg_i64(r, 0, 3);
    if (figures && !(*figures = strdup(PQgetvalue(r, 0, 2))))
        st = KV_J_E_NOMEM;
    PQclear(r);
    return st;
}

kv_journal_status kv_jrpg_z_get(kv_jpg *p, const char *store, const char *till, const char *day,
                                int64_t *z_number, int64_t *closed_at, int *printed, char **figures)
{
    kv_journal_status st;
    kv_jpg_conn *c = kv_jpg_read_begin(p, &st);
    if (!c)
        return st;
    st = z_row(c, store, till, day, z_number, closed_at, printed, figures);
    kv_jpg_read_end(c);
    return st;
}

typedef struct {
    const char *store, *till, *day, *figures;
    int64_t closed_at;
    int64_t z_number; /* out */
    int existed;      /* out */
} z_close_arg;

/* One close as a write unit (may run twice: outputs are set, not added). */
static kv_journal_status z_close_unit(kv_jpg_conn *c, void *arg)
{
    z_close_arg *a = arg;
    const char *store = a->store, *till = a->till, *day = a->day, *figures = a->figures;
    int64_t closed_at = a->closed_at, *z_number = &a->z_number;
    int *existed = &a->existed;
    *z_number = 0;
    *existed = 0;
    kv_journal_status st;
    kv_jpg_params pv = { .n = 0 };
    PS(&pv, store);
    PS(&pv, till);
    /* the till's row, locked until COMMIT: the next closer of this till
     * (any process, any machine) waits here and then sees this close */
    st = kv_jpg_exec(c, NULL, "INSERT INTO z_tills(store_id, till_id) VALUES($1, $2)"
                     " ON CONFLICT (store_id, till_id) DO NOTHING", &pv);
    if (st == KV_J_OK)
        st = kv_jpg_exec(c, NULL, "SELECT last_z FROM z_tills WHERE store_id = $1 AND till_id = $2 FOR UPDATE",
                         &pv);
    if (st == KV_J_OK) {
        st = z_row(c, store, till, day, z_number, NULL, NULL, NULL);
        if (st == KV_J_OK)
            *existed = 1;
    }
    if (st == KV_J_E_NOT_FOUND) {
        /* MAX + 1 under the lock (and not the counter alone): rows copied
         * by `kvitt journal migrate` count too */
        PS(&pv, day);
        PI(&pv, closed_at);
        PS(&pv, figures);
        PGresult *r = NULL;
        st = kv_jpg_exec(c, &r, "INSERT INTO z_reports(store_id, till_id, day, z_number, closed_at, figures)"
                         " SELECT $1, $2, $3, COALESCE(MAX(z_number), 0) + 1, $4::bigint, $5 FROM z_reports"
                         " WHERE store_id = $1 AND till_id = $2 RETURNING z_number", &pv);
        if (st == KV_J_OK) {
            *z_number = kv_pg_i64(r, 0, 0);
            PQclear(r);
            kv_jpg_params uv = { .n = 0 };
            PI(&uv, *z_number);
            PS(&uv, store);
            PS(&uv, till);
            st = kv_jpg_exec(c, NULL, "UPDATE z_tills SET last_z = $1::bigint WHERE store_id = $2 AND till_id = $3",
                             &uv);
        }
    }
    return st;
}

kv_journal_status kv_jrpg_z_close(kv_jpg *p, const char *store, const char *till, const char *day,
                                  int64_t closed_at, const char *figures, int64_t *z_number, int *existed)
{
    z_close_arg a = { store, till, day, figures, closed_at, 0, 0 };
    kv_journal_status st = kv_jpg_unit(p, z_close_unit, &a);
    if (st == KV_J_OK) {
        *z_number = a.z_number;
        *existed = a.existed;
    }
    return st;
}

kv_journal_status kv_jrpg_z_each(kv_jpg *p, const char *day, kv_journal_z_fn fn, void *user)
{
    kv_jpg_params pv = { .n = 0 };
    PS(&pv, day);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT store_id, till_id, z_number FROM z_reports WHERE day = $1"
                                " ORDER BY store_id, till_id", &pv);
    if (st)
        return st;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        char store[64], till[64];
        kv_jpg_col(store, sizeof store, r, i, 0);
        kv_jpg_col(till, sizeof till, r, i, 1);
        if (fn(user, store, till, kv_pg_i64(r, i, 2)))
            break;
    }
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jrpg_z_printed(kv_jpg *p, const char *store, const char *till, const char *day)
{
    kv_jpg_params pv = texts3(store, till, day);
    return kv_jpg_update_one(p, "UPDATE z_reports SET printed = printed + 1"
                             " WHERE store_id = $1 AND till_id = $2 AND day = $3", &pv);
}

kv_journal_status kv_jrpg_feed_cursor(kv_jpg *p, const char *ledger, const char *topic, char *cursor,
                                      size_t len)
{
    kv_jpg_params pv = { .n = 0 };
    PS(&pv, ledger);
    PS(&pv, topic);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT cursor FROM ledger_feed WHERE ledger_id = $1 AND topic = $2", &pv);
    if (st)
        return st;
    if (PQntuples(r) == 1)
        kv_jpg_col(cursor, len, r, 0, 0);
    PQclear(r);
    return KV_J_OK;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A PostgreSQL array literal being written (text[] or bigint[]). */
typedef struct arr {
    char *p;
    size_t n, cap;
} arr;

/* Append len bytes of s; -1 when out of memory. */
static int arr_put(arr *a, const char *s, size_t len)
{
    if (a->n + len + 1 > a->cap) {
        size_t nc = (a->n + len + 1) * 2;
        char *np = realloc(a->p, nc);
        if (!np)
            return -1;
        a->p = np;
        a->cap = nc;
    }
    memcpy(a->p + a->n, s, len);
    a->n += len;
    a->p[a->n] = '\0';
    return 0;
}

/* Append one element: a number as it is, a text quoted ("..." with \ before
 * every " and \), so any text stays one element. */
static int arr_elem(arr *a, const char *text, int64_t num, int is_num)
{
    if (arr_put(a, a->n ? "," : "{", 1))
        return -1;
    if (is_num) {
        char b[24];
        int l = snprintf(b, sizeof b, "%lld", (long long)num);
        return arr_put(a, b, (size_t)l);
    }
    if (arr_put(a, "\"", 1))
        return -1;
    for (const char *t = text; *t; t++)
        if (((*t == '"' || *t == '\\') && arr_put(a, "\\", 1)) || arr_put(a, t, 1))
            return -1;
    return arr_put(a, "\"", 1);
}

/* The columns of a feed page, one array literal each, in feed order. */
#define NCOLS 8
typedef struct arrays {
    arr col[NCOLS];
} arrays;

static void arrays_free(arrays *a)
{
    for (int k = 0; k < NCOLS; k++)
        free(a->col[k].p);
}

static kv_journal_status page_arrays(arrays *a, const kv_ledger_entry *e, size_t n)
{
    memset(a, 0, sizeof *a);
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        const char *t[NCOLS] = { e[i].psp_reference, e[i].reference, e[i].entry_type, NULL, e[i].currency,
                                 e[i].ledger_date, e[i].time, e[i].recipient };
        for (int k = 0; k < NCOLS && !bad; k++)
            bad = arr_elem(&a->col[k], t[k], e[i].amount, k == 3);
    }
    for (int k = 0; k < NCOLS && !bad; k++)
        bad = arr_put(&a->col[k], "}", 1);
    return bad ? KV_J_E_NOMEM : KV_J_OK;
}

typedef struct {
    const char *ledger, *topic, *next_cursor;
    const arrays *page; /* NULL: no entries */
    size_t added;       /* out */
} feed_arg;

/* One page and its cursor as a write unit (may run twice). */
static kv_journal_status feed_unit(kv_jpg_conn *c, void *arg)
{
    feed_arg *f = arg;
    kv_journal_status st = KV_J_OK;
    f->added = 0;
    if (f->page) {
        /* the page in one statement: one array per column, unnested in
         * feed order (seq follows it); an entry seen before (a page read
         * again after a restart, or by another instance) is kept once */
        kv_jpg_params pv = { .n = 0 };
        PS(&pv, f->ledger);
        PS(&pv, f->topic);
        for (int k = 0; k < NCOLS; k++)
            PS(&pv, f->page->col[k].p);
        PGresult *r = NULL;
        st = kv_jpg_exec(c, &r, "INSERT INTO ledger_entries(ledger_id, topic, psp_reference, reference,"
                         " entry_type, amount, currency, ledger_date, time, recipient)"
                         " SELECT $1, $2, u.psp, u.ref, u.typ, u.amt, u.cur, u.day, u.tm, u.rcp"
                         " FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],"
                         " $8::text[], $9::text[], $10::text[]) WITH ORDINALITY"
                         " AS u(psp, ref, typ, amt, cur, day, tm, rcp, ord) ORDER BY u.ord"
                         " ON CONFLICT (ledger_id, topic, entry_type, psp_reference, time) DO NOTHING", &pv);
        if (st == KV_J_OK) {
            f->added = (size_t)changed(r);
            PQclear(r);
        }
    }
    if (st == KV_J_OK) {
        kv_jpg_params pv = { .n = 0 };
        PS(&pv, f->ledger);
        PS(&pv, f->topic);
        PS(&pv, f->next_cursor);
        PI(&pv, now_ms());
        st = kv_jpg_exec(c, NULL, "INSERT INTO ledger_feed(ledger_id, topic, cursor, updated_ms)"
                         " VALUES($1, $2, $3, $4::bigint) ON CONFLICT (ledger_id, topic)"
                         " DO UPDATE SET cursor = $3, updated_ms = $4::bigint", &pv);
    }
    return st;
}

kv_journal_status kv_jrpg_feed_store(kv_jpg *p, const char *ledger, const char *topic,
                                     const kv_ledger_entry *e, size_t n, const char *next_cursor,
                                     size_t *added)
{
    arrays a;
    feed_arg f = { ledger, topic, next_cursor, NULL, 0 };
    kv_journal_status st = KV_J_OK;
    if (n) {
        st = page_arrays(&a, e, n);
        f.page = &a;
    }
    if (st == KV_J_OK)
        st = kv_jpg_unit(p, feed_unit, &f);
    if (n)
        arrays_free(&a);
    if (st == KV_J_OK && added)
        *added = f.added;
    return st;
}

kv_journal_status kv_jrpg_feed_count(kv_jpg *p, const char *ledger, const char *topic,
                                     const char *ledger_date, int64_t *n)
{
    kv_jpg_params pv = texts3(ledger, topic, ledger_date);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT count(*) FROM ledger_entries WHERE ledger_id = $1 AND topic = $2"
                                " AND ($3 = '' OR ledger_date = $3)", &pv);
    if (st)
        return st;
    *n = kv_pg_i64(r, 0, 0);
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jrpg_feed_entries(kv_jpg *p, const char *ledger, const char *topic,
                                       const char *ledger_date, kv_ledger_entry **out, size_t *n)
{
    kv_jpg_params pv = texts3(ledger, topic, ledger_date);
    PGresult *r = NULL;
    kv_journal_status st = rows(p, &r, "SELECT psp_reference, reference, entry_type, amount, currency,"
                                " ledger_date, time, recipient FROM ledger_entries WHERE ledger_id = $1"
                                " AND topic = $2 AND ledger_date = $3 ORDER BY seq", &pv);
    if (st)
        return st;
    int cnt = PQntuples(r);
    kv_ledger_entry *v = cnt ? calloc((size_t)cnt, sizeof *v) : NULL;
    if (cnt && !v) {
        PQclear(r);
        return KV_J_E_NOMEM;
    }
    for (int i = 0; i < cnt; i++) {
        kv_ledger_entry *x = &v[i];
        snprintf(x->ledger_id, sizeof x->ledger_id, "%s", ledger);
        snprintf(x->topic, sizeof x->topic, "%s", topic);
        kv_jpg_col(x->psp_reference, sizeof x->psp_reference, r, i, 0);
        kv_jpg_col(x->reference, sizeof x->reference, r, i, 1);
        kv_jpg_col(x->entry_type, sizeof x->entry_type, r, i, 2);
        x->amount = kv_pg_i64(r, i, 3);
        kv_jpg_col(x->currency, sizeof x->currency, r, i, 4);
        kv_jpg_col(x->ledger_date, sizeof x->ledger_date, r, i, 5);
        kv_jpg_col(x->time, sizeof x->time, r, i, 6);
        kv_jpg_col(x->recipient, sizeof x->recipient, r, i, 7);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)cnt;
    return KV_J_OK;
}
