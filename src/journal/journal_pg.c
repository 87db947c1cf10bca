/* journal_pg.c - the journal on PostgreSQL (libpq): same tables, same
 * contracts as the SQLite backend, shared by several kvitt processes. */
#include "src/journal/journal_pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Advisory lock keys of references live in their own space (the first
 * key of the two-int form), apart from the migration lock. */
#define REF_LOCK_SPACE 7316

/* Connections of a handle: a write unit or read takes a free one; a batch
 * keeps its connection for the thread that began it. */
#define POOL_MAX 32
#define POOL_DEFAULT 4

typedef struct pconn {
    struct kv_jpg *p;
    PGconn *c;                /* NULL until first used (or after a loss) */
    int busy;                 /* taken by owner (p->mu) */
    int batch;                /* > 0: inside the owner's batch_begin/end */
    pthread_t owner;
} pconn;

struct kv_jpg {
    pthread_mutex_t mu;       /* the pool's busy/owner/batch, stats, errmsg */
    pthread_cond_t cv;        /* a connection came free */
    pconn pool[POOL_MAX];
    int npool;                /* connections in use (kv_jpg_set_pool) */
    char *dsn;
    kv_journal_stats stats;
    char errmsg[600];
    /* the session that holds this process's per-reference advisory locks
     * (dies with the process: another instance may then take them) */
    pthread_mutex_t lmu;
    PGconn *lc;
};

/* Parameters of one statement: up to 20, numbers formatted in place. */
typedef struct params {
    const char *v[20];
    char num[20][24];
    int n;
} params;

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

static void set_err(kv_jpg *p, const char *msg)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->errmsg, sizeof p->errmsg, "%s", msg ? msg : "");
    size_t n = strlen(p->errmsg);
    while (n && p->errmsg[n - 1] == '\n')
        p->errmsg[--n] = '\0';
    pthread_mutex_unlock(&p->mu);
}

/* A connection for this thread: its batch's, else a free one (waiting for
 * one when all are taken).  Give it back with release(). */
static pconn *acquire(kv_jpg *p)
{
    pthread_t self = pthread_self();
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < POOL_MAX; i++) {
        pconn *pc = &p->pool[i];
        if (pc->busy && pc->batch && pthread_equal(pc->owner, self)) {
            pthread_mutex_unlock(&p->mu);
            return pc;
        }
    }
    for (;;) {
        pconn *best = NULL;
        for (int i = 0; i < p->npool; i++)
            if (!p->pool[i].busy && (!best || (!best->c && p->pool[i].c)))
                best = &p->pool[i];
        if (best) {
            best->busy = 1;
            best->owner = self;
            pthread_mutex_unlock(&p->mu);
            return best;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
}

/* Give a connection back (kept by its thread while a batch is open). */
static void release(pconn *pc)
{
    kv_jpg *p = pc->p;
    pthread_mutex_lock(&p->mu);
    if (!pc->batch) {
        pc->busy = 0;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

/* The status for a failed result r (cleared by the caller). */
static kv_journal_status fail_status(pconn *pc, PGresult *r)
{
    set_err(pc->p, PQerrorMessage(pc->c));
    if (kv_pg_conn_lost(pc->c, r))
        return KV_J_E_CONN;
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (code && strcmp(code, "23505") == 0)
        return KV_J_E_EXISTS;
    return KV_J_E_SQL;
}

/* A usable connection: reconnects once when it was lost, unless a batch
 * (whose transaction died with it) is open. */
static kv_journal_status ensure(pconn *pc)
{
    if (pc->batch)
        return pc->c && PQstatus(pc->c) == CONNECTION_OK ? KV_J_OK : KV_J_E_CONN;
    if (kv_pg_alive(pc->c))
        return KV_J_OK;
    if (pc->c)
        PQfinish(pc->c);
    char err[512];
    pc->c = kv_pg_connect(pc->p->dsn, err, sizeof err);
    if (!pc->c) {
        set_err(pc->p, err);
        return KV_J_E_CONN;
    }
    return KV_J_OK;
}

/* Run sql with parameters; *out gets the result when it succeeded. */
static kv_journal_status q(pconn *pc, PGresult **out, const char *sql, const params *pv)
{
    PGresult *r = PQexecParams(pc->c, sql, pv ? pv->n : 0, NULL, pv ? pv->v : NULL, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return KV_J_OK;
    }
    kv_journal_status st = fail_status(pc, r);
    PQclear(r);
    return st;
}

/* A connection for a read, connected; NULL with *st set when none. */
static pconn *reader(kv_jpg *p, kv_journal_status *st)
{
    pconn *pc = acquire(p);
    *st = ensure(pc);
    if (*st) {
        release(pc);
        return NULL;
    }
    return pc;
}

kv_journal_status kv_jpg_open(kv_jpg **out, const char *dsn, char *err, size_t errlen)
{
    kv_jpg *p = calloc(1, sizeof *p);
    if (!p || !(p->dsn = strdup(dsn))) {
        free(p);
        return KV_J_E_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_init(&p->lmu, NULL);
    for (int i = 0; i < POOL_MAX; i++)
        p->pool[i].p = p;
    p->npool = POOL_DEFAULT;
    char e[512] = "";
    p->pool[0].c = kv_pg_connect(dsn, e, sizeof e);
    if (!p->pool[0].c || kv_pg_migrate(p->pool[0].c, &kv_jpg_schema, 1, NULL, NULL, e, sizeof e)) {
        if (err)
            snprintf(err, errlen, "%s", e);
        kv_jpg_close(p);
        return KV_J_E_OPEN;
    }
    *out = p;
    return KV_J_OK;
}

void kv_jpg_set_pool(kv_jpg *p, int n)
{
    pthread_mutex_lock(&p->mu);
    p->npool = n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : n;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void kv_jpg_close(kv_jpg *p)
{
    if (!p)
        return;
    for (int i = 0; i < POOL_MAX; i++) {
        pconn *pc = &p->pool[i];
        if (!pc->c)
            continue;
        if (pc->batch)
            PQclear(PQexec(pc->c, "ROLLBACK"));
        PQfinish(pc->c);
    }
    if (p->lc)
        PQfinish(p->lc);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->lmu);
    if (p->dsn) {
        memset(p->dsn, 0, strlen(p->dsn)); /* may hold a password */
        free(p->dsn);
    }
    free(p);
}

const char *kv_jpg_errmsg(kv_jpg *p)
{
    return p->errmsg;
}

void kv_jpg_stats_get(kv_jpg *p, kv_journal_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

kv_journal_status kv_jpg_ping(kv_jpg *p)
{
    kv_journal_status st;
    pconn *pc = reader(p, &st);
    if (pc) {
        st = q(pc, NULL, "SELECT 1", NULL);
        release(pc);
    }
    return st;
}

/* ---- write units ---- */

/* Begin a write unit on a connection (*out): BEGIN, or a savepoint inside
 * the thread's batch.  On failure the connection is given back. */
static kv_journal_status w_begin(kv_jpg *p, pconn **out)
{
    pconn *pc = acquire(p);
    kv_journal_status st = ensure(pc);
    if (st == KV_J_OK)
        st = q(pc, NULL, pc->batch ? "SAVEPOINT unit" : "BEGIN", NULL);
    if (st) {
        release(pc);
        return st;
    }
    *out = pc;
    return KV_J_OK;
}

/* Close the open transaction: COMMIT when commit (a failed or unanswered
 * COMMIT is the unit's failure), else ROLLBACK. */
static kv_journal_status tx_close(pconn *pc, int commit)
{
    if (!commit) {
        if (PQstatus(pc->c) == CONNECTION_OK)
            PQclear(PQexec(pc->c, "ROLLBACK"));
        return KV_J_OK;
    }
    kv_journal_status st = q(pc, NULL, "COMMIT", NULL);
    if (st == KV_J_OK) {
        pthread_mutex_lock(&pc->p->mu);
        pc->p->stats.units++;
        pc->p->stats.commits++;
        pthread_mutex_unlock(&pc->p->mu);
    }
    return st;
}

/* End the unit with its status st: COMMIT (or RELEASE) when KV_J_OK, else
 * undo it; give the connection back. */
static kv_journal_status w_end(pconn *pc, kv_journal_status st)
{
    if (pc->batch) {
        if (st == KV_J_OK)
            st = q(pc, NULL, "RELEASE SAVEPOINT unit", NULL);
        else if (PQstatus(pc->c) == CONNECTION_OK)
            PQclear(PQexec(pc->c, "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit"));
    } else {
        kv_journal_status e = tx_close(pc, st == KV_J_OK);
        if (st == KV_J_OK)
            st = e;
    }
    release(pc);
    return st;
}

kv_journal_status kv_jpg_batch_begin(kv_jpg *p)
{
    pconn *pc = acquire(p);
    if (pc->batch) {
        pc->batch++; /* only its owner touches it */
        return KV_J_OK;
    }
    kv_journal_status st = ensure(pc);
    if (st == KV_J_OK)
        st = q(pc, NULL, "BEGIN", NULL);
    if (st) {
        release(pc);
        return st;
    }
    pthread_mutex_lock(&p->mu);
    pc->batch = 1;
    pthread_mutex_unlock(&p->mu);
    return KV_J_OK;
}

kv_journal_status kv_jpg_batch_end(kv_jpg *p, int commit)
{
    pthread_t self = pthread_self();
    pconn *pc = NULL;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < POOL_MAX && !pc; i++)
        if (p->pool[i].busy && p->pool[i].batch && pthread_equal(p->pool[i].owner, self))
            pc = &p->pool[i];
    pthread_mutex_unlock(&p->mu);
    if (!pc)
        return KV_J_E_ARG; /* not in a batch */
    if (pc->batch > 1) {
        pc->batch--;
        return KV_J_OK;
    }
    kv_journal_status st = tx_close(pc, commit);
    pthread_mutex_lock(&p->mu);
    pc->batch = 0;
    pthread_mutex_unlock(&p->mu);
    release(pc);
    return st;
}

/* ---- payments ---- */

#define PAY_COLS "reference, store_id, msn, till_id, flow, currency, amount, captured, refunded, state," \
                 " api_state, psp_reference, reason, description, items_json, qr_url, created_at, updated_at, expires_at"

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

/* The transition row and its feed events: one statement (journal_pg.c's
 * feed section). */
static kv_journal_status add_transition(pconn *pc, const char *ref, const char *from, const char *to,
                                        const char *note)
{
    return feed_transition(pc, ref, from, to, note);
}

kv_journal_status kv_jpg_add_payment(kv_jpg *p, const kv_payment *pay)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
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
    st = q(pc, NULL, "INSERT INTO payments(" PAY_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,"
                    "$15,$16,$17,$18,$19)", &pv);
    if (st == KV_J_OK)
        st = add_transition(pc, pay->reference, "", kv_pay_state_name(pay->state), "journaled");
    return w_end(pc, st);
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

kv_journal_status kv_jpg_update_payment(kv_jpg *p, const kv_payment *pay, const char *note)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    kv_payment *old = malloc(sizeof *old);
    if (!old)
        return w_end(pc, KV_J_E_NOMEM);
    st = get_locked(pc, old, pay->reference, 1);
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
    return w_end(pc, st);
}

/* ---- operations ---- */

#define OP_COLS "id, reference, kind, seq, idem_key, amount, result, created_at, answered_at"

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

kv_journal_status kv_jpg_op_begin(kv_jpg *p, kv_journal_op *out, const char *reference,
                                  kv_op_kind kind, int64_t amount)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    kv_journal_op last, op;
    /* serialise with other instances working on the same payment */
    params lk = { .n = 0 };
    ps(&lk, reference);
    st = q(pc, NULL, "SELECT 1 FROM payments WHERE reference=$1 FOR UPDATE", &lk);
    if (st == KV_J_OK)
        st = op_last_locked(pc, &last, reference, kind);
    if (st == KV_J_OK && last.result == KV_OPR_PENDING && last.amount == amount) {
        op = last; /* an unanswered attempt: retry it with the same key */
        st = w_end(pc, KV_J_OK);
        if (st == KV_J_OK)
            *out = op;
        return st;
    }
    if (st != KV_J_OK && st != KV_J_E_NOT_FOUND)
        return w_end(pc, st);
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
    }
    st = w_end(pc, st);
    if (st == KV_J_OK)
        *out = op;
    return st;
}

/* One UPDATE ... WHERE id as a write unit; KV_J_E_NOT_FOUND when no row. */
static kv_journal_status update_one(kv_jpg *p, const char *sql, const params *pv)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    PGresult *r = NULL;
    st = q(pc, &r, sql, pv);
    if (st == KV_J_OK) {
        if (strcmp(PQcmdTuples(r), "0") == 0)
            st = KV_J_E_NOT_FOUND;
        PQclear(r);
    }
    return w_end(pc, st);
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
    if (st)
        return st;
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

kv_journal_status kv_jpg_job_add(kv_jpg *p, int64_t *id, const char *reference, kv_doc_kind doc,
                                 int copy, const char *printer)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    int64_t now = now_ms() / 1000;
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, kv_doc_kind_name(doc));
    pi(&pv, copy);
    ps(&pv, printer);
    pi(&pv, now);
    PGresult *r = NULL;
    st = q(pc, &r, "INSERT INTO print_jobs(reference, doc, state, copy, printer, created_at, updated_at)"
                  " VALUES($1,$2,'queued',$3,$4,$5,$5) RETURNING id", &pv);
    if (st == KV_J_OK) {
        *id = kv_pg_i64(r, 0, 0);
        PQclear(r);
    }
    return w_end(pc, st);
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

kv_journal_status kv_jpg_add_event(kv_jpg *p, const char *reference, const char *name, const char *body)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, name);
    ps(&pv, body);
    pi(&pv, now_ms());
    st = q(pc, NULL, "INSERT INTO webhook_events(reference, name, body, received_ms) VALUES($1,$2,$3,$4)", &pv);
    /* wake the instance that owns the payment (LISTEN kvitt_events) */
    if (st == KV_J_OK) {
        params nv = { .n = 0 };
        ps(&nv, reference);
        st = q(pc, NULL, "SELECT pg_notify('kvitt_events', $1)", &nv);
    }
    if (st == KV_J_OK)
        st = feed_insert(pc, reference, "webhook", "", name);
    return w_end(pc, st);
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

kv_journal_status kv_jpg_om_add(kv_jpg *p, const char *reference, const char *store_id)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    params pv = { .n = 0 };
    ps(&pv, reference);
    ps(&pv, store_id);
    pi(&pv, now_ms() / 1000);
    st = q(pc, NULL, "INSERT INTO om_outbox(reference, store_id, state, created_at, updated_at)"
                    " VALUES($1,$2,'pending',$3,$3) ON CONFLICT (reference) DO NOTHING", &pv);
    return w_end(pc, st);
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

kv_journal_status kv_jpg_feed_add(kv_jpg *p, const char *reference, const char *type, const char *state,
                                  const char *message)
{
    pconn *pc = NULL;
    kv_journal_status st = w_begin(p, &pc);
    if (st)
        return st;
    return w_end(pc, feed_insert(pc, reference, type, state, message));
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
