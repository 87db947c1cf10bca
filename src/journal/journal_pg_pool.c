/* journal_pg_pool.c - the PostgreSQL journal's connections: the pool,
 * write units with their group commit, and batches (journal_pg_int.h). */
#include "src/journal/journal_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* lock_timeout of a unit that joins units already done in its group */
#define LOCK_WAIT "'5ms'"
/* the longest a COMMIT waits for units still running or queued in its group */
#define GC_HOLD_MS 3
#define GC_MAX_UNITS 64

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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

/* This thread's batch connection (p->mu held), or NULL. */
static pconn *batch_of(kv_jpg *p)
{
    pthread_t self = pthread_self();
    for (int i = 0; i < POOL_MAX; i++) {
        pconn *pc = &p->pool[i];
        if (pc->busy && pc->batch && pthread_equal(pc->owner, self))
            return pc;
    }
    return NULL;
}

/* A free connection, a connected one first (p->mu held), or NULL. */
static pconn *free_conn(kv_jpg *p)
{
    pconn *best = NULL;
    for (int i = 0; i < p->npool; i++)
        if (!p->pool[i].busy && (!best || (!best->c && p->pool[i].c)))
            best = &p->pool[i];
    return best;
}

/* A connection for this thread: its batch's, else a free one (waiting for
 * one when all are taken).  Give it back with release(). */
static pconn *acquire(kv_jpg *p)
{
    pthread_mutex_lock(&p->mu);
    pconn *pc = batch_of(p);
    while (!pc && !(pc = free_conn(p)))
        pthread_cond_wait(&p->cv, &p->mu);
    if (!pc->batch) {
        pc->busy = 1;
        pc->owner = pthread_self();
    }
    pthread_mutex_unlock(&p->mu);
    return pc;
}

void kv__jpg_release(pconn *pc)
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
static kv_journal_status fail_status(pconn *pc, const PGresult *r)
{
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (code && strcmp(code, "55P03") == 0 && pc->timed)
        return KV__JPG_LOCK_BUSY; /* run again at the head of a group */
    set_err(pc->p, PQerrorMessage(pc->c));
    if (kv_pg_conn_lost(pc->c, r))
        return KV_J_E_CONN;
    if (code && strcmp(code, "23505") == 0)
        return KV_J_E_EXISTS;
    return KV_J_E_SQL;
}

/* See journal_pg.h: the pool connection c belongs to answers. */
kv_journal_status kv_jpg_result_status(kv_jpg *p, PGconn *c, const PGresult *r)
{
    for (int i = 0; i < POOL_MAX; i++)
        if (p->pool[i].c == c)
            return fail_status(&p->pool[i], r);
    set_err(p, PQerrorMessage(c));
    return kv_pg_conn_lost(c, r) ? KV_J_E_CONN : KV_J_E_SQL;
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

kv_journal_status kv__jpg_q(pconn *pc, PGresult **out, const char *sql, const params *pv)
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

/* Run one or more statements without parameters (one round trip). */
static kv_journal_status exec_simple(pconn *pc, const char *sql)
{
    PGresult *r = PQexec(pc->c, sql);
    kv_journal_status st = PQresultStatus(r) == PGRES_COMMAND_OK ? KV_J_OK : fail_status(pc, r);
    PQclear(r);
    return st;
}

pconn *kv__jpg_reader(kv_jpg *p, kv_journal_status *st)
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
    pthread_condattr_t ca; /* timed waits on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int i = 0; i < POOL_MAX; i++) {
        p->pool[i].p = p;
        pthread_cond_init(&p->pool[i].turn_cv, &ca);
        pthread_cond_init(&p->pool[i].done_cv, NULL);
    }
    pthread_condattr_destroy(&ca);
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
        pthread_cond_destroy(&pc->turn_cv);
        pthread_cond_destroy(&pc->done_cv);
        if (!pc->c)
            continue;
        if (pc->batch || pc->gen)
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

/* ---- groups ---- */

/* Take the running turn in a group for a unit (head: at the head of a
 * fresh group, as a batch or a unit that met a lock).  *pc gets the
 * connection, *gen its group, *begin 1 when the group still needs its
 * BEGIN.  A fresh group that is not a head's is the one others join. */
static void group_join(kv_jpg *p, int head, pconn **pc, int64_t *gen, int *begin)
{
    pthread_mutex_lock(&p->mu);
    int64_t now = mono_us(), gap = now - p->last_us;
    p->last_us = now;
    p->gap_us = (p->gap_us * 7 + (gap < 100000 ? gap : 100000)) / 8;
    for (;;) {
        pconn *o = p->open;
        if (o && !head && !o->closing && o->units < GC_MAX_UNITS) {
            if (free_conn(p))
                pthread_cond_signal(&p->cv); /* not for this one: pass it on */
            if (!o->running) {
                o->running = 1;
                *pc = o;
                *gen = o->gen;
                *begin = 0;
                break;
            }
            /* counted while its group lasts (group_resolve clears it) */
            int64_t g = o->gen;
            o->queued++;
            pthread_cond_wait(&o->turn_cv, &p->mu);
            if (o->gen == g)
                o->queued--;
            continue;
        }
        pconn *f = free_conn(p);
        if (f) {
            f->busy = 1;
            f->owner = pthread_self();
            f->gen = ++p->last_gen;
            f->units = f->leader = f->closing = f->timed = 0;
            f->running = 1;
            f->opened_us = mono_us();
            if (!head) {
                p->open = f;
                pthread_cond_broadcast(&p->cv);
            }
            *pc = f;
            *gen = f->gen;
            *begin = 1;
            break;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

/* Close the group of pc (p->mu held, no unit running): the connection is
 * free again; st != KV_J_OK is remembered for the group's waiters. */
static void group_resolve(kv_jpg *p, pconn *pc, kv_journal_status st)
{
    if (st != KV_J_OK) {
        unsigned i = p->nfailed++ % (sizeof p->failed / sizeof p->failed[0]);
        p->failed[i].gen = pc->gen;
        p->failed[i].st = st;
    }
    if (p->open == pc)
        p->open = NULL;
    pc->gen = 0;
    pc->units = pc->leader = pc->closing = pc->timed = pc->queued = 0;
    pc->busy = 0;
    pthread_cond_broadcast(&pc->turn_cv); /* the queued go elsewhere */
    pthread_cond_broadcast(&pc->done_cv);
    pthread_cond_signal(&p->cv); /* one connection came free */
}

/* COMMIT (or, with no unit done, ROLLBACK) the transaction of pc's group
 * (p->mu not held); its status. */
static kv_journal_status group_close_tx(pconn *pc, int units)
{
    if (!units) {
        if (pc->c && PQstatus(pc->c) == CONNECTION_OK)
            PQclear(PQexec(pc->c, "ROLLBACK"));
        return KV_J_OK;
    }
    /* without the units' lock_timeout: a COMMIT with NOTIFYs waits for
     * the server's notification queue lock, which other COMMITs hold */
    pc->timed = 0;
    PGresult *r = PQexec(pc->c, "SET LOCAL lock_timeout = DEFAULT; COMMIT");
    kv_journal_status st = KV_J_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        st = fail_status(pc, r);
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        /* COMMIT of a transaction that failed answers ROLLBACK */
        set_err(pc->p, "journal: a shared transaction failed and was rolled back");
        st = KV_J_E_SQL;
    }
    PQclear(r);
    if (st != KV_J_OK && PQstatus(pc->c) == CONNECTION_OK)
        PQclear(PQexec(pc->c, "ROLLBACK"));
    return st;
}

/* The unit of group gen on pc is done (p->mu held); wait until the group
 * is resolved, leading its COMMIT when no unit leads it yet. */
static kv_journal_status group_wait(kv_jpg *p, pconn *pc, int64_t gen)
{
    while (pc->gen == gen) {
        if (pc->leader) {
            pthread_cond_wait(&pc->done_cv, &p->mu);
            continue;
        }
        pc->leader = 1;
        /* let the units running or queued now share this COMMIT; while
         * units come in faster than one per GC_HOLD_MS, hold the group
         * that units join open until GC_HOLD_MS after it opened */
        for (;;) {
            int64_t waited = (mono_us() - pc->opened_us) / 1000;
            int hold = p->open == pc && p->gap_us < GC_HOLD_MS * 1000;
            if ((!pc->running && !pc->queued && !hold) || waited >= GC_HOLD_MS || pc->units >= GC_MAX_UNITS)
                break;
            kv__journal_wait_ms(&pc->turn_cv, &p->mu, (int)(GC_HOLD_MS - waited) + 1);
        }
        pc->closing = 1;
        if (p->open == pc)
            p->open = NULL;
        pthread_cond_broadcast(&pc->turn_cv); /* the queued go elsewhere */
        while (pc->running)
            pthread_cond_wait(&pc->turn_cv, &p->mu);
        int units = pc->units;
        pthread_mutex_unlock(&p->mu);
        kv_journal_status st = group_close_tx(pc, units);
        pthread_mutex_lock(&p->mu);
        if (st == KV_J_OK) {
            p->stats.commits++;
            p->stats.units += (uint64_t)units;
        }
        group_resolve(p, pc, st);
    }
    size_t nf = sizeof p->failed / sizeof p->failed[0];
    for (size_t i = 0; i < nf && i < p->nfailed; i++)
        if (p->failed[i].gen == gen)
            return p->failed[i].st;
    return KV_J_OK;
}

/* End the running turn of a unit on pc's group gen (p->mu not held):
 * done (its savepoint released) or not.  Returns the unit's final status:
 * a done unit waits until its group is durable. */
static kv_journal_status group_leave(kv_jpg *p, pconn *pc, int64_t gen, int done, kv_journal_status st)
{
    pthread_mutex_lock(&p->mu);
    pc->running = 0;
    if (done) {
        pc->units++;
        if (!p->open && !pc->closing && !pc->leader) {
            p->open = pc; /* a head's group: others may join it now */
            pthread_cond_broadcast(&p->cv);
        }
    }
    if (!pc->units && !pc->queued && !pc->leader) {
        /* nothing in it waits for a COMMIT: close it now */
        pc->closing = 1;
        if (p->open == pc)
            p->open = NULL;
        pthread_mutex_unlock(&p->mu);
        group_close_tx(pc, 0);
        pthread_mutex_lock(&p->mu);
        group_resolve(p, pc, KV_J_OK);
        pthread_mutex_unlock(&p->mu);
        return st;
    }
    pthread_cond_broadcast(&pc->turn_cv);
    if (done)
        st = group_wait(p, pc, gen);
    pthread_mutex_unlock(&p->mu);
    return st;
}

/* Open the group's transaction when it is fresh, then (unless the unit
 * heads the group) the unit's savepoint, under lock_timeout when units
 * are done in the group already. */
static kv_journal_status group_start(kv_jpg *p, pconn *pc, int begin, int head)
{
    if (begin) {
        kv_journal_status st = ensure(pc);
        if (st)
            return st;
        return exec_simple(pc, head ? "BEGIN" : "BEGIN; SAVEPOINT unit");
    }
    pthread_mutex_lock(&p->mu);
    int timed = pc->units > 0;
    pthread_mutex_unlock(&p->mu);
    if (timed == pc->timed)
        return exec_simple(pc, "SAVEPOINT unit");
    kv_journal_status st = exec_simple(pc, timed ? "SET LOCAL lock_timeout = " LOCK_WAIT "; SAVEPOINT unit"
                                                 : "SET LOCAL lock_timeout = DEFAULT; SAVEPOINT unit");
    if (st == KV_J_OK)
        pc->timed = timed;
    return st;
}

/* ---- write units ---- */

/* The statements of a unit in a savepoint of its own: undone alone when
 * they fail. */
static kv_journal_status in_savepoint(pconn *pc, kv__jpg_body body, void *arg)
{
    kv_journal_status st = body(pc, arg);
    if (st == KV_J_OK)
        st = exec_simple(pc, "RELEASE SAVEPOINT unit");
    if (st != KV_J_OK && PQstatus(pc->c) == CONNECTION_OK)
        PQclear(PQexec(pc->c, "ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit"));
    return st;
}

kv_journal_status kv__jpg_unit(kv_jpg *p, kv__jpg_body body, void *arg)
{
    pthread_mutex_lock(&p->mu);
    pconn *pc = batch_of(p);
    pthread_mutex_unlock(&p->mu);
    if (pc) {
        /* inside this thread's batch (only its owner touches it) */
        kv_journal_status st = ensure(pc);
        if (st == KV_J_OK)
            st = exec_simple(pc, "SAVEPOINT unit");
        return st ? st : in_savepoint(pc, body, arg);
    }
    for (int head = 0;; head = 1) {
        int64_t gen = 0;
        int begin = 0;
        group_join(p, head, &pc, &gen, &begin);
        kv_journal_status st = group_start(p, pc, begin, head);
        if (st == KV_J_OK)
            /* a head is alone in its transaction: group_leave rolls the
             * transaction back when it fails */
            st = head ? body(pc, arg) : in_savepoint(pc, body, arg);
        st = group_leave(p, pc, gen, st == KV_J_OK, st);
        if (st != KV__JPG_LOCK_BUSY)
            return st;
    }
}

/* ---- batches: a batch heads a group of its own ---- */

kv_journal_status kv_jpg_batch_begin(kv_jpg *p)
{
    pthread_mutex_lock(&p->mu);
    pconn *pc = batch_of(p);
    pthread_mutex_unlock(&p->mu);
    if (pc) {
        pc->batch++; /* only its owner touches it */
        return KV_J_OK;
    }
    int64_t gen = 0;
    int begin = 0;
    group_join(p, 1, &pc, &gen, &begin);
    kv_journal_status st = group_start(p, pc, begin, 1);
    if (st)
        return group_leave(p, pc, gen, 0, st);
    pthread_mutex_lock(&p->mu);
    pc->batch = 1;
    pthread_mutex_unlock(&p->mu);
    return KV_J_OK;
}

kv_journal_status kv_jpg_batch_end(kv_jpg *p, int commit)
{
    pthread_mutex_lock(&p->mu);
    pconn *pc = batch_of(p);
    pthread_mutex_unlock(&p->mu);
    if (!pc)
        return KV_J_E_ARG; /* not in a batch */
    if (pc->batch > 1) {
        pc->batch--;
        return KV_J_OK;
    }
    pthread_mutex_lock(&p->mu);
    pc->batch = 0;
    int64_t gen = pc->gen;
    pthread_mutex_unlock(&p->mu);
    /* the batch is alone in its transaction so far: not committing it is
     * rolling the transaction back (group_leave closes the empty group) */
    return group_leave(p, pc, gen, commit != 0, KV_J_OK);
}
