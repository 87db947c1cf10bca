/* journal_pg.c - the journal on PostgreSQL (libpq): same tables, same
 * contracts as the SQLite backend, shared by several kvitt processes. */
#include "src/journal/journal_pg_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Advisory lock keys of references live in their own space (the first
 * key of the two-int form), apart from the migration lock. */
#define REF_LOCK_SPACE 7316

static void ps(params *p, const char *s)
{
    p->v[p->n++] = s ? s : "";
}

static void pi(params *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- payments ---- */

#define PAY_COLS KV_JPG_PAY_COLS

static void col(char *dst, size_t len, const PGresult *r, int row, int c)
{
    snprintf(dst, len, "%s", PQgetisnull(r, row, c) ? "" : PQgetvalue(r, row, c));
}

static void read_payment(kv_payment *o, const PGresult *r, int i)
{
    memset(o, 0, sizeof *o);
    col(o->reference, sizeof o->reference, r, i, 0);
    col(o->store_id, sizeof o->store_id, r, i, 1);
    col(o->msn, sizeof o->msn, r, i, 2);
    col(o->till_id, sizeof o->till_id, r, i, 3);
    col(o->flow, sizeof o->flow, r, i, 4);
    col(o->currency, sizeof o->currency, r, i, 5);
    o->amount = kv_pg_i64(r, i, 6);
    o->captured = kv_pg_i64(r, i, 7);
    o->refunded = kv_pg_i64(r, i, 8);
    if (kv_pay_state_parse(&o->state, PQgetvalue(r, i, 9)))
        o->state = KV_PAY_UNKNOWN;
    col(o->api_state, sizeof o->api_state, r, i, 10);
    col(o->psp_reference, sizeof o->psp_reference, r, i, 11);
    col(o->reason, sizeof o->reason, r, i, 12);
    col(o->description, sizeof o->description, r, i, 13);
    col(o->items_json, sizeof o->items_json, r, i, 14);
    col(o->qr_url, sizeof o->qr_url, r, i, 15);
    o->created_at = kv_pg_i64(r, i, 16);
    o->updated_at = kv_pg_i64(r, i, 17);
    o->expires_at = kv_pg_i64(r, i, 18);
}

static kv_journal_status feed_transition(pconn *pc, const char *ref, const char *from, const char *to,
                                         const char *note);
static kv_journal_status feed_insert(pconn *pc, const char *ref, const char *type, const char *state,
                                     const char *message);

/* The transition row and its feed events: one statement (the feed
 * section below). */
static kv_journal_status add_transition(pconn *pc, const char *ref, const char *from, const char *to,
                                        const char *note)
{
    return feed_transition(pc, ref, from, to, note);
}

static kv_journal_status add_payment_unit(pconn *pc, void *arg)
{
    const kv_payment *pay = arg;
    int64_t now = now_ms() / 1000;
    params pv = { .n = 0 };
    ps(&pv, pay->reference);
    ps(&pv, pay->store_id);
    ps(&pv, pay->msn);
    ps(&pv, pay->till_id);
    ps(&pv, pay->flow);
    ps(&pv, pay->currency);
    pi(&pv, pay->amount);
    pi(&pv, pay->captured);
    pi(&pv, pay->refunded);
    ps(&pv, kv_pay_state_name(pay->state));
    ps(&pv, pay->api_state);
    ps(&pv, pay->psp_reference);
    ps(&pv, pay->reason);
    ps(&pv, pay->description);
    ps(&pv, pay->items_json);
    ps(&pv, pay->qr_url);
    pi(&pv, pay->created_at ? pay->created_at : now);
    pi(&pv, now);
    pi(&pv, pay->expires_at);
    kv_journal_status st = q(pc, NULL, "INSERT INTO payments(" PAY_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,"
                             "$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)", &pv);
    if (st == KV_J_OK)
        st = add_transition(pc, pay->reference, "", kv_pay_state_name(pay->state), "journaled");
    return st;
}

kv_journal_status kv_jpg_add_payment(kv_jpg *p, const kv_payment *pay)
{
    return kv__jpg_unit(p, add_payment_unit, (void *)pay);
}

/* One payment; lock: FOR UPDATE (inside a unit). */
static kv_journal_status get_locked(pconn *pc, kv_payment *out, const char *ref, int lock)
{
    params pv = { .n = 0 };
    ps(&pv, ref);
    PGresult *r = NULL;
    kv_journal_status st = q(pc, &r, lock ? "SELECT " PAY_COLS " FROM payments WHERE reference=$1 FOR UPDATE"
                                         : "SELECT " PAY_COLS " FROM payments WHERE reference=$1", &pv);
    if (st)
        return st;
    if (PQntuples(r) == 1)
        read_payment(out, r, 0);
    else
        st = KV_J_E_NOT_FOUND;
    PQclear(r);
    return st;
}

kv_journal_status kv_jpg_get_payment(kv_jpg *p, kv_payment *out, const char *reference)
{
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        st = get_locked(pc, out, reference, 0);
        release(pc);
    }
    return st;
}

typedef struct update_arg {
    const kv_payment *pay;
    const char *note;
} update_arg;

static kv_journal_status update_payment_unit(pconn *pc, void *arg)
{
    const kv_payment *pay = ((update_arg *)arg)->pay;
    const char *note = ((update_arg *)arg)->note;
    kv_payment *old = malloc(sizeof *old);
    if (!old)
        return KV_J_E_NOMEM;
    kv_journal_status st = get_locked(pc, old, pay->reference, 1);
    if (st == KV_J_OK) {
        params pv = { .n = 0 };
        ps(&pv, kv_pay_state_name(pay->state));
        ps(&pv, pay->api_state);
        ps(&pv, pay->psp_reference);
        pi(&pv, pay->captured);
        pi(&pv, pay->refunded);
        ps(&pv, pay->reason);
        ps(&pv, pay->qr_url);
        pi(&pv, pay->expires_at);
        pi(&pv, now_ms() / 1000);
        ps(&pv, pay->reference);
        st = q(pc, NULL, "UPDATE payments SET state=$1, api_state=$2, psp_reference=$3, captured=$4, refunded=$5,"
                        " reason=$6, qr_url=$7, expires_at=$8, updated_at=$9 WHERE reference=$10", &pv);
    }
    if (st == KV_J_OK && old->state != pay->state)
        st = add_transition(pc, pay->reference, kv_pay_state_name(old->state), kv_pay_state_name(pay->state),
                            note);
    free(old);
    return st;
}

kv_journal_status kv_jpg_update_payment(kv_jpg *p, const kv_payment *pay, const char *note)
{
    update_arg a = { pay, note };
    return kv__jpg_unit(p, update_payment_unit, &a);
}

/* ---- operations ---- */

#define OP_COLS KV_JPG_OP_COLS

static const char *result_name(kv_op_result r)
{
    switch (r) {
    case KV_OPR_PENDING: return "pending";
    case KV_OPR_OK: return "ok";
    case KV_OPR_REJECTED: return "rejected";
    }
    return "pending";
}

static void read_op(kv_journal_op *o, const PGresult *r, int i)
{
    memset(o, 0, sizeof *o);
    o->id = kv_pg_i64(r, i, 0);
    col(o->reference, sizeof o->reference, r, i, 1);
    const char *k = PQgetvalue(r, i, 2);
    o->kind = strcmp(k, "capture") == 0 ? KV_OP_CAPTURE : strcmp(k, "refund") == 0 ? KV_OP_REFUND
            : strcmp(k, "cancel") == 0 ? KV_OP_CANCEL : KV_OP_CREATE;
    o->seq = (int)kv_pg_i64(r, i, 3);
    col(o->idem_key, sizeof o->idem_key, r, i, 4);
    o->amount = kv_pg_i64(r, i, 5);
    const char *res = PQgetvalue(r, i, 6);
    o->result = strcmp(res, "ok") == 0 ? KV_OPR_OK : strcmp(res, "rejected") == 0 ? KV_OPR_REJECTED
              : KV_OPR_PENDING;
    o->created_at = kv_pg_i64(r, i, 7);
    o->answered_at = kv_pg_i64(r, i, 8);
}

static kv_journal_status op_last_locked(pconn *pc, kv_journal_op *out, const char *ref, kv_op_kind kind)
{
    params pv = { .n = 0 };
    ps(&pv, ref);
    ps(&pv, kv_op_kind_name(kind));
    PGresult *r = NULL;
    kv_journal_status st = q(pc, &r, "SELECT " OP_COLS " FROM operations WHERE reference=$1 AND kind=$2"
                                    " ORDER BY seq DESC LIMIT 1", &pv);
    if (st)
        return st;
    if (PQntuples(r) == 1)
        read_op(out, r, 0);
    else
        st = KV_J_E_NOT_FOUND;
    PQclear(r);
    return st;
}

typedef struct op_arg {
    kv_journal_op op;          /* the result */
    const char *reference;
    kv_op_kind kind;
    int64_t amount;
} op_arg;

static kv_journal_status op_begin_unit(pconn *pc, void *arg)
{
    op_arg *a = arg;
    const char *reference = a->reference;
    kv_op_kind kind = a->kind;
    int64_t amount = a->amount;
    kv_journal_op last, op;
    /* serialise with other instances working on the same payment */
    params lk = { .n = 0 };
    ps(&lk, reference);
    kv_journal_status st = q(pc, NULL, "SELECT 1 FROM payments WHERE reference=$1 FOR UPDATE", &lk);
    if (st == KV_J_OK)
        st = op_last_locked(pc, &last, reference, kind);
    if (st == KV_J_OK && last.result == KV_OPR_PENDING && last.amount == amount) {
        a->op = last; /* an unanswered attempt: retry it with the same key */
        return KV_J_OK;
    }
    if (st != KV_J_OK && st != KV_J_E_NOT_FOUND)
        return st;
    memset(&op, 0, sizeof op);
    op.seq = st == KV_J_OK ? last.seq + 1 : 1;
    op.kind = kind;
    op.amount = amount;
    op.result = KV_OPR_PENDING;
    op.created_at = now_ms() / 1000;
    snprintf(op.reference, sizeof op.reference, "%s", reference);
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%s-%d", kv_op_kind_name(kind), op.seq);
    int room = 50 - (int)strlen(suffix);
    snprintf(op.idem_key, sizeof op.idem_key, "%.*s%s", room, reference, suffix);
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, kv_op_kind_name(kind));
    pi(&pv, op.seq);
    ps(&pv, op.idem_key);
    pi(&pv, amount);
    pi(&pv, op.created_at);
    PGresult *r = NULL;
    st = q(pc, &r, "INSERT INTO operations(reference, kind, seq, idem_key, amount, result, created_at)"
                  " VALUES($1,$2,$3,$4,$5,'pending',$6) RETURNING id", &pv);
    if (st == KV_J_OK) {
        op.id = kv_pg_i64(r, 0, 0);
        PQclear(r);
        a->op = op;
    }
    return st;
}

kv_journal_status kv_jpg_op_begin(kv_jpg *p, kv_journal_op *out, const char *reference,
                                  kv_op_kind kind, int64_t amount)
{
    op_arg a = { .reference = reference, .kind = kind, .amount = amount };
    kv_journal_status st = kv__jpg_unit(p, op_begin_unit, &a);
    if (st == KV_J_OK)
        *out = a.op;
    return st;
}

/* One UPDATE ... WHERE id as a write unit; KV_J_E_NOT_FOUND when no row. */
typedef struct one_arg {
    const char *sql;
    const params *pv;
} one_arg;

static kv_journal_status update_one_unit(pconn *pc, void *arg)
{
    one_arg *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = q(pc, &r, a->sql, a->pv);
    if (st == KV_J_OK) {
        if (strcmp(PQcmdTuples(r), "0") == 0)
            st = KV_J_E_NOT_FOUND;
        PQclear(r);
    }
    return st;
}

static kv_journal_status update_one(kv_jpg *p, const char *sql, const params *pv)
{
    one_arg a = { sql, pv };
    return kv__jpg_unit(p, update_one_unit, &a);
}

/* ---- for the journal's other tables (journal_pg.h) ---- */

void kv_jpg_param_str(kv_jpg_params *pv, const char *s)
{
    ps(pv, s);
}

void kv_jpg_param_int(kv_jpg_params *pv, int64_t x)
{
    pi(pv, x);
}

kv_journal_status kv_jpg_unit(kv_jpg *p, kv_jpg_unit_fn body, void *arg)
{
    return kv__jpg_unit(p, body, arg);
}

kv_jpg_conn *kv_jpg_read_begin(kv_jpg *p, kv_journal_status *st)
{
    return reader(p, st);
}

void kv_jpg_read_end(kv_jpg_conn *c)
{
    release(c);
}

kv_journal_status kv_jpg_exec(kv_jpg_conn *c, PGresult **out, const char *sql, const kv_jpg_params *pv)
{
    return q(c, out, sql, pv);
}

kv_journal_status kv_jpg_update_one(kv_jpg *p, const char *sql, const kv_jpg_params *pv)
{
    return update_one(p, sql, pv);
}

void kv_jpg_read_payment(kv_payment *o, const PGresult *r, int row)
{
    read_payment(o, r, row);
}

void kv_jpg_read_op(kv_journal_op *o, const PGresult *r, int row)
{
    read_op(o, r, row);
}

void kv_jpg_col(char *dst, size_t len, const PGresult *r, int row, int c)
{
    col(dst, len, r, row, c);
}

kv_journal_status kv_jpg_op_finish(kv_jpg *p, int64_t op_id, kv_op_result res)
{
    params pv = { .n = 0 };
    ps(&pv, result_name(res));
    pi(&pv, now_ms() / 1000);
    pi(&pv, op_id);
    return update_one(p, "UPDATE operations SET result=$1, answered_at=$2 WHERE id=$3", &pv);
}

kv_journal_status kv_jpg_op_last(kv_jpg *p, kv_journal_op *out, const char *reference, kv_op_kind kind)
{
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        st = op_last_locked(pc, out, reference, kind);
        release(pc);
    }
    return st;
}

/* Rows of a read into a malloc'd array of elem-byte elements. */
/* kv_jpg_with's write unit: the caller's function on the unit's connection. */
typedef struct {
    kv_jpg_fn fn;
    void *arg;
} with_arg;

static kv_journal_status with_body(pconn *pc, void *a)
{
    with_arg *w = a;
    return w->fn(pc->p, pc->c, w->arg);
}

/* See journal_pg.h. */
kv_journal_status kv_jpg_with(kv_jpg *p, int write, kv_jpg_fn fn, void *arg)
{
    if (write) {
        with_arg w = { fn, arg };
        return kv__jpg_unit(p, with_body, &w);
    }
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (!pc)
        return st;
    st = fn(p, pc->c, arg);
    release(pc);
    return st;
}

static kv_journal_status collect(kv_jpg *p, void **out, size_t *n, const char *sql, const params *pv,
                                 size_t elem, void (*read)(void *dst, const PGresult *r, int i))
{
    PGresult *r = NULL;
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        st = q(pc, &r, sql, pv);
        release(pc);
    }
    return st ? st : kv_jpg_rows(r, out, n, elem, read);
}

/* See journal_pg.h. */
kv_journal_status kv_jpg_rows(PGresult *r, void **out, size_t *n, size_t elem,
                              void (*read)(void *dst, const PGresult *r, int i))
{
    int rows = PQntuples(r);
    char *v = rows ? calloc((size_t)rows, elem) : NULL;
    if (rows && !v) {
        PQclear(r);
        return KV_J_E_NOMEM;
    }
    for (int i = 0; i < rows; i++)
        read(v + (size_t)i * elem, r, i);
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return KV_J_OK;
}

static void read_op_row(void *dst, const PGresult *r, int i)
{
    read_op(dst, r, i);
}

static void read_payment_row(void *dst, const PGresult *r, int i)
{
    read_payment(dst, r, i);
}

static void read_transition_row(void *dst, const PGresult *r, int i)
{
    kv_transition *t = dst;
    if (kv_pay_state_parse(&t->from, PQgetvalue(r, i, 0)))
        t->from = KV_PAY_NEW;
    if (kv_pay_state_parse(&t->to, PQgetvalue(r, i, 1)))
        t->to = KV_PAY_UNKNOWN;
    col(t->note, sizeof t->note, r, i, 2);
    t->at_ms = kv_pg_i64(r, i, 3);
}

kv_journal_status kv_jpg_ops_pending(kv_jpg *p, kv_journal_op **out, size_t *n, kv_op_kind kind)
{
    params pv = { .n = 0 };
    ps(&pv, kv_op_kind_name(kind));
    return collect(p, (void **)out, n, "SELECT " OP_COLS " FROM operations WHERE kind=$1 AND result='pending'"
                   " ORDER BY id", &pv, sizeof(kv_journal_op), read_op_row);
}

/* A count(*) read; -1 on error. */
static int count(kv_jpg *p, const char *sql, const params *pv)
{
    PGresult *r = NULL;
    int n = -1;
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        if (q(pc, &r, sql, pv) == KV_J_OK) {
            n = (int)kv_pg_i64(r, 0, 0);
            PQclear(r);
        }
        release(pc);
    }
    return n;
}

int kv_jpg_op_count(kv_jpg *p, const char *reference, kv_op_kind kind, int result)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, kv_op_kind_name(kind));
    if (result < 0)
        return count(p, "SELECT count(*) FROM operations WHERE reference=$1 AND kind=$2", &pv);
    ps(&pv, result_name((kv_op_result)result));
    return count(p, "SELECT count(*) FROM operations WHERE reference=$1 AND kind=$2 AND result=$3", &pv);
}

/* ---- print jobs, events, history, search ---- */

typedef struct job_arg {
    int64_t id;                /* the result */
    const char *reference;
    kv_doc_kind doc;
    int copy;
    const char *printer;
} job_arg;

static kv_journal_status job_add_unit(pconn *pc, void *arg)
{
    job_arg *a = arg;
    const char *reference = a->reference, *printer = a->printer;
    kv_doc_kind doc = a->doc;
    int copy = a->copy;
    int64_t now = now_ms() / 1000;
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, kv_doc_kind_name(doc));
    pi(&pv, copy);
    ps(&pv, printer);
    pi(&pv, now);
    PGresult *r = NULL;
    kv_journal_status st = q(pc, &r, "INSERT INTO print_jobs(reference, doc, state, copy, printer, created_at,"
                             " updated_at) VALUES($1,$2,'queued',$3,$4,$5,$5) RETURNING id", &pv);
    if (st == KV_J_OK) {
        a->id = kv_pg_i64(r, 0, 0);
        PQclear(r);
    }
    return st;
}

kv_journal_status kv_jpg_job_add(kv_jpg *p, int64_t *id, const char *reference, kv_doc_kind doc,
                                 int copy, const char *printer)
{
    job_arg a = { 0, reference, doc, copy, printer };
    kv_journal_status st = kv__jpg_unit(p, job_add_unit, &a);
    if (st == KV_J_OK)
        *id = a.id;
    return st;
}

kv_journal_status kv_jpg_job_set(kv_jpg *p, int64_t id, kv_pj_state state, const char *detail)
{
    params pv = { .n = 0 };
    ps(&pv, kv_pj_state_name(state));
    ps(&pv, detail);
    pi(&pv, now_ms() / 1000);
    pi(&pv, id);
    return update_one(p, "UPDATE print_jobs SET state=$1, detail=$2, updated_at=$3 WHERE id=$4", &pv);
}

kv_journal_status kv_jpg_job_last(kv_jpg *p, kv_print_job *out, const char *reference, kv_doc_kind doc)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, kv_doc_kind_name(doc));
    PGresult *r = NULL;
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        st = q(pc, &r, "SELECT id, reference, doc, state, copy, printer, detail, created_at, updated_at"
                       " FROM print_jobs WHERE reference=$1 AND doc=$2 ORDER BY id DESC LIMIT 1", &pv);
        release(pc);
    }
    if (st)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return KV_J_E_NOT_FOUND;
    }
    kv_print_job pj;
    memset(&pj, 0, sizeof pj);
    pj.id = kv_pg_i64(r, 0, 0);
    col(pj.reference, sizeof pj.reference, r, 0, 1);
    const char *d = PQgetvalue(r, 0, 2);
    pj.doc = strcmp(d, "receipt") == 0 ? KV_DOC_RECEIPT : strcmp(d, "not-paid") == 0 ? KV_DOC_NOT_PAID
           : strcmp(d, "refund") == 0 ? KV_DOC_REFUND : KV_DOC_SLIP;
    const char *s = PQgetvalue(r, 0, 3);
    pj.state = strcmp(s, "sent") == 0 ? KV_PJ_SENT : strcmp(s, "confirmed") == 0 ? KV_PJ_CONFIRMED
             : strcmp(s, "failed") == 0 ? KV_PJ_FAILED : KV_PJ_QUEUED;
    pj.copy = (int)kv_pg_i64(r, 0, 4);
    col(pj.printer, sizeof pj.printer, r, 0, 5);
    col(pj.detail, sizeof pj.detail, r, 0, 6);
    pj.created_at = kv_pg_i64(r, 0, 7);
    pj.updated_at = kv_pg_i64(r, 0, 8);
    PQclear(r);
    *out = pj;
    return KV_J_OK;
}

typedef struct event_arg {
    const char *reference, *name, *body;
} event_arg;

static kv_journal_status add_event_unit(pconn *pc, void *arg)
{
    const char *reference = ((event_arg *)arg)->reference;
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, ((event_arg *)arg)->name);
    ps(&pv, ((event_arg *)arg)->body);
    pi(&pv, now_ms());
    kv_journal_status st = q(pc, NULL, "INSERT INTO webhook_events(reference, name, body, received_ms) VALUES($1,$2,$3,$4)", &pv);
    /* wake the instance that owns the payment (LISTEN kvitt_events) */
    if (st == KV_J_OK) {
        params nv = { .n = 0 };
        ps(&nv, reference);
        st = q(pc, NULL, "SELECT pg_notify('kvitt_events', $1)", &nv);
    }
    if (st == KV_J_OK)
        st = feed_insert(pc, reference, "webhook", "", ((event_arg *)arg)->name);
    return st;
}

kv_journal_status kv_jpg_add_event(kv_jpg *p, const char *reference, const char *name, const char *body)
{
    event_arg a = { reference, name, body };
    return kv__jpg_unit(p, add_event_unit, &a);
}

int kv_jpg_event_count(kv_jpg *p, const char *reference)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    return count(p, "SELECT count(*) FROM webhook_events WHERE reference=$1", &pv);
}

kv_journal_status kv_jpg_transitions(kv_jpg *p, kv_transition **out, size_t *n, const char *reference)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    return collect(p, (void **)out, n, "SELECT from_state, to_state, note, at_ms FROM transitions"
                   " WHERE reference=$1 ORDER BY id", &pv, sizeof(kv_transition), read_transition_row);
}

kv_journal_status kv_jpg_find(kv_jpg *p, kv_payment **out, size_t *n, const kv_journal_query *qr)
{
    params pv = { .n = 0 };
    ps(&pv, qr->reference);
    ps(&pv, qr->store_id);
    pi(&pv, qr->since);
    pi(&pv, qr->unfinished_only ? 1 : 0);
    pi(&pv, qr->limit > 0 ? qr->limit : 1000);
    return collect(p, (void **)out, n, "SELECT " PAY_COLS " FROM payments WHERE ($1 = '' OR reference = $1)"
                   " AND ($2 = '' OR store_id = $2) AND created_at >= $3::bigint"
                   " AND ($4::int = 0 OR state NOT IN ('DONE','NOT_PAID','CANCELLED'))"
                   " ORDER BY created_at DESC, seq DESC LIMIT $5::bigint", &pv, sizeof(kv_payment),
                   read_payment_row);
}

/* ---- Order Management receipt outbox ---- */

#define OM_COLS "reference, store_id, state, attempts, next_at, detail"

static void read_om_row(void *dst, const PGresult *r, int i)
{
    kv_om_entry *o = dst;
    memset(o, 0, sizeof *o);
    col(o->reference, sizeof o->reference, r, i, 0);
    col(o->store_id, sizeof o->store_id, r, i, 1);
    const char *st = PQgetvalue(r, i, 2);
    o->state = !strcmp(st, "delivered") ? KV_OM_DELIVERED : !strcmp(st, "skipped") ? KV_OM_SKIPPED
             : KV_OM_PENDING;
    o->attempts = (int)kv_pg_i64(r, i, 3);
    o->next_at = kv_pg_i64(r, i, 4);
    col(o->detail, sizeof o->detail, r, i, 5);
}

static kv_journal_status om_add_unit(pconn *pc, void *arg)
{
    const char *const *a = arg; /* reference, store_id */
    params pv = { .n = 0 };
    ps(&pv, a[0]);
    ps(&pv, a[1]);
    pi(&pv, now_ms() / 1000);
    return q(pc, NULL, "INSERT INTO om_outbox(reference, store_id, state, created_at, updated_at)"
                       " VALUES($1,$2,'pending',$3,$3) ON CONFLICT (reference) DO NOTHING", &pv);
}

kv_journal_status kv_jpg_om_add(kv_jpg *p, const char *reference, const char *store_id)
{
    const char *a[2] = { reference, store_id };
    return kv__jpg_unit(p, om_add_unit, a);
}

kv_journal_status kv_jpg_om_get(kv_jpg *p, kv_om_entry *out, const char *reference)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    kv_om_entry *v = NULL;
    size_t n = 0;
    kv_journal_status st = collect(p, (void **)&v, &n, "SELECT " OM_COLS " FROM om_outbox WHERE reference=$1",
                                   &pv, sizeof(kv_om_entry), read_om_row);
    if (st == KV_J_OK && n == 0)
        st = KV_J_E_NOT_FOUND;
    if (st == KV_J_OK)
        *out = v[0];
    free(v);
    return st;
}

kv_journal_status kv_jpg_om_due(kv_jpg *p, int64_t now, kv_om_entry **out, size_t *n)
{
    params pv = { .n = 0 };
    pi(&pv, now);
    return collect(p, (void **)out, n, "SELECT " OM_COLS " FROM om_outbox WHERE state='pending'"
                   " AND next_at <= $1::bigint ORDER BY created_at, reference", &pv, sizeof(kv_om_entry),
                   read_om_row);
}

kv_journal_status kv_jpg_om_set(kv_jpg *p, const char *reference, kv_om_state state, int attempts,
                                int64_t next_at, const char *detail)
{
    params pv = { .n = 0 };
    ps(&pv, kv_om_state_name(state));
    pi(&pv, attempts);
    pi(&pv, next_at);
    ps(&pv, detail);
    pi(&pv, now_ms() / 1000);
    ps(&pv, reference);
    return update_one(p, "UPDATE om_outbox SET state=$1, attempts=$2, next_at=$3, detail=$4, updated_at=$5"
                         " WHERE reference=$6", &pv);
}

/* ---- per-reference locks across instances ---- */

/* The advisory lock key of a reference (FNV-1a, 31 bits). */
static char *ref_key(const char *ref, char *buf, size_t len)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)ref; *s; s++)
        h = (h ^ *s) * 16777619u;
    snprintf(buf, len, "%u", h & 0x7fffffffu);
    return buf;
}

/* Try the lock on the lock session (p->lmu held): 1 taken, 0 busy, -1 error. */
static int try_lock(kv_jpg *p, const char *key)
{
    if (!kv_pg_alive(p->lc)) {
        /* a new session: the locks of the lost one are gone already */
        if (p->lc)
            PQfinish(p->lc);
        char err[512];
        p->lc = kv_pg_connect(p->dsn, err, sizeof err);
        if (!p->lc)
            return -1;
        /* the server drops this session (and its leases) soon after this
         * machine vanishes, not after the kernel's two hours */
        PQclear(PQexec(p->lc, "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2;"
                              " SET tcp_keepalives_count = 2"));
    }
    char space[16];
    snprintf(space, sizeof space, "%d", REF_LOCK_SPACE);
    const char *pv[2] = { space, key };
    PGresult *r = PQexecParams(p->lc, "SELECT pg_try_advisory_lock($1::int, $2::int)", 2, NULL, pv, NULL, NULL, 0);
    int ret = PQresultStatus(r) == PGRES_TUPLES_OK ? strcmp(PQgetvalue(r, 0, 0), "t") == 0 : -1;
    PQclear(r);
    return ret;
}

kv_journal_status kv_jpg_lock_ref(kv_jpg *p, const char *reference, int try)
{
    char key[16];
    ref_key(reference, key, sizeof key);
    for (;;) {
        pthread_mutex_lock(&p->lmu);
        int r = try_lock(p, key);
        pthread_mutex_unlock(&p->lmu);
        if (r == 1)
            return KV_J_OK;
        if (r < 0)
            return KV_J_E_CONN;
        if (try)
            return KV_J_E_EXISTS;
        usleep(20000);
    }
}

void kv_jpg_unlock_ref(kv_jpg *p, const char *reference)
{
    char key[16], space[16];
    ref_key(reference, key, sizeof key);
    snprintf(space, sizeof space, "%d", REF_LOCK_SPACE);
    const char *pv[2] = { space, key };
    pthread_mutex_lock(&p->lmu);
    if (p->lc && PQstatus(p->lc) == CONNECTION_OK)
        PQclear(PQexecParams(p->lc, "SELECT pg_advisory_unlock($1::int, $2::int)", 2, NULL, pv, NULL, NULL, 0));
    pthread_mutex_unlock(&p->lmu);
}

/* ---- a payment's event feed (journal.h) ---- */

/* Append an event to ref's feed inside the open unit: its number comes
 * from feed_heads (the row lock of the reference serialises writers of
 * one payment across instances); the other instances hear of it at
 * COMMIT (NOTIFY kvitt_feed with the reference). */
static kv_journal_status feed_insert(pconn *pc, const char *ref, const char *type, const char *state,
                                     const char *message)
{
    params pv = { .n = 0 };
    ps(&pv, ref);
    ps(&pv, type);
    ps(&pv, state);
    ps(&pv, message);
    pi(&pv, now_ms());
    return q(pc, NULL, "WITH h AS (INSERT INTO feed_heads(reference, last_seq) VALUES($1::text, 1)"
                      " ON CONFLICT (reference) DO UPDATE SET last_seq = feed_heads.last_seq + 1"
                      " RETURNING last_seq),"
                      " e AS (INSERT INTO feed_events(reference, seq, type, state, message, at_ms)"
                      " SELECT $1::text, last_seq, $2::text, $3::text, $4::text, $5::bigint FROM h RETURNING seq)"
                      " SELECT pg_notify('kvitt_feed', $1::text) FROM e", &pv);
}

static int final_name(const char *state)
{
    kv_pay_state st;
    return state && kv_pay_state_parse(&st, state) == 0 && kv_pay_state_final(st);
}

/* A state change from -> to: its transition row, its feed's "state" event
 * and, when it enters a final state, the "result" event after it -- one
 * statement (one round trip) inside the open unit. */
static kv_journal_status feed_transition(pconn *pc, const char *ref, const char *from, const char *to,
                                         const char *note)
{
    params pv = { .n = 0 };
    ps(&pv, ref);
    ps(&pv, from);
    ps(&pv, to);
    ps(&pv, note);
    pi(&pv, now_ms());
    pi(&pv, final_name(to) && !final_name(from) ? 2 : 1);
    return q(pc, NULL, "WITH t AS (INSERT INTO transitions(reference, from_state, to_state, note, at_ms)"
                      " VALUES($1::text, $2::text, $3::text, $4::text, $5::bigint)),"
                      " h AS (INSERT INTO feed_heads(reference, last_seq) VALUES($1::text, $6::int)"
                      " ON CONFLICT (reference) DO UPDATE SET last_seq = feed_heads.last_seq + $6::int"
                      " RETURNING last_seq),"
                      " e AS (INSERT INTO feed_events(reference, seq, type, state, message, at_ms)"
                      " SELECT $1::text, h.last_seq - $6::int + k, CASE k WHEN 1 THEN 'state' ELSE 'result' END,"
                      " $3::text, $4::text, $5::bigint FROM h, generate_series(1, $6::int) AS k RETURNING seq)"
                      " SELECT pg_notify('kvitt_feed', $1::text) FROM e LIMIT 1", &pv);
}

typedef struct {
    const char *reference, *type, *state, *message;
} feed_arg;

static kv_journal_status feed_add_unit(pconn *pc, void *arg)
{
    feed_arg *a = arg;
    return feed_insert(pc, a->reference, a->type, a->state, a->message);
}

kv_journal_status kv_jpg_feed_add(kv_jpg *p, const char *reference, const char *type, const char *state,
                                  const char *message)
{
    feed_arg a = { reference, type, state, message };
    return kv__jpg_unit(p, feed_add_unit, &a);
}

static void read_feed_row(void *dst, const PGresult *r, int i)
{
    kv_feed_event *e = dst;
    e->seq = (int)kv_pg_i64(r, i, 0);
    col(e->type, sizeof e->type, r, i, 1);
    col(e->state, sizeof e->state, r, i, 2);
    col(e->message, sizeof e->message, r, i, 3);
    e->at_ms = kv_pg_i64(r, i, 4);
}

kv_journal_status kv_jpg_feed_read(kv_jpg *p, const char *reference, int after, int limit,
                                   kv_feed_event **out, size_t *n)
{
    params pv = { .n = 0 };
    ps(&pv, reference);
    pi(&pv, after);
    pi(&pv, limit);
    return collect(p, (void **)out, n, "SELECT seq, type, state, message, at_ms FROM feed_events"
                   " WHERE reference=$1 AND seq>$2 ORDER BY seq LIMIT $3", &pv, sizeof(kv_feed_event),
                   read_feed_row);
}
