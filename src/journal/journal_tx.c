/* journal_tx.c - the journal's statement cache and group commit: every
 * write is a savepoint unit inside a transaction shared by the threads
 * writing at the same time, made durable by one COMMIT (one WAL sync) for
 * all of them (see journal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_int.h"
#include "src/journal/journal_pg.h"

/* The prepared statement for sql (a literal: the cache is keyed by its
 * address), reset and unbound by done() after use.  j->mu held. */
sqlite3_stmt *kv__journal_prep(kv_journal *j, const char *sql)
{
    for (size_t i = 0; i < j->ncache; i++)
        if (j->cache[i].sql == sql)
            return j->cache[i].st;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(j->db, sql, -1, j->ncache < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0,
                           &st, NULL) != SQLITE_OK) {
        kv__journal_set_err(j);
        return NULL;
    }
    if (j->ncache < STMT_CACHE) {
        j->cache[j->ncache].sql = sql;
        j->cache[j->ncache++].st = st;
    }
    return st;
}

/* Finish with a statement from prep(): reset it for the next use (or
 * finalize it when the cache was full). */
void kv__journal_done(kv_journal *j, sqlite3_stmt *st)
{
    for (size_t i = 0; i < j->ncache; i++) {
        if (j->cache[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}

/* Run a statement without results through the cache (sql is a literal). */
static kv_journal_status exec_simple(kv_journal *j, const char *sql)
{
    sqlite3_stmt *st = kv__journal_prep(j, sql);
    if (!st)
        return KV_J_E_SQL;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        kv__journal_set_err(j);
    kv__journal_done(j, st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? KV_J_OK : KV_J_E_SQL;
}

void kv__journal_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* Commit the open shared transaction (j->mu held): one COMMIT, one sync,
 * for every unit in it.  A failed COMMIT rolls all of them back and
 * every waiter of the generation gets KV_J_E_SQL. */
static void commit_shared(kv_journal *j)
{
    int64_t g = j->tx_gen;
    if (exec_simple(j, "COMMIT") != KV_J_OK) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        j->failed[j->nfailed++ % FAILED_RING] = g;
    } else {
        j->stats.commits++;
        j->stats.units += (uint64_t)j->tx_units;
        j->batch_avg16 = (j->batch_avg16 * 7 + (unsigned)j->tx_units * 16) / 8;
    }
    j->tx_gen = 0;
    j->tx_units = 0;
    j->tx_leader = 0;
    j->resolved_gen = g;
    pthread_cond_broadcast(&j->done_cv);
}

/* Start a write unit (j->mu held, outside a batch): join the open shared
 * transaction or open one, then a savepoint for this unit alone. */
static kv_journal_status unit_begin(kv_journal *j)
{
    pthread_t self = pthread_self();
    if (!pthread_equal(self, j->last_writer)) {
        j->last_writer = self;
        j->multi_ms = kv__journal_now_ms();
    }
    if (!j->tx_gen) {
        kv_journal_status st = exec_simple(j, "BEGIN IMMEDIATE");
        if (st)
            return st;
        j->tx_gen = ++j->last_gen;
        j->tx_opened_ms = kv__journal_now_ms();
        j->tx_units = 0;
    }
    kv_journal_status st = exec_simple(j, "SAVEPOINT unit");
    if (st && j->tx_units == 0) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        j->resolved_gen = j->tx_gen;
        j->tx_gen = 0;
    }
    return st;
}

/* Wait until generation g is resolved (j->mu held exactly once); commit it
 * when this caller is the first to wait and no other writer is queued for
 * the lock (or GC_MAX_WAIT_MS have passed since the transaction opened). */
static kv_journal_status wait_durable(kv_journal *j, int64_t g)
{
    while (j->resolved_gen < g) {
        if (j->tx_gen == g && !j->tx_leader) {
            j->tx_leader = 1;
            /* Several threads writing lately and commits shared lately (a
             * busy daemon): hold the COMMIT until GC_MAX_WAIT_MS after the
             * transaction opened, so the units of other payments share its
             * sync.  Otherwise (the CLI, one payment at a time) commit as
             * soon as no writer is queued. */
            int busy = kv__journal_now_ms() - j->multi_ms < 100 && j->batch_avg16 > 20;
            for (;;) {
                int64_t waited = kv__journal_now_ms() - j->tx_opened_ms;
                if (waited >= GC_MAX_WAIT_MS || (!busy && atomic_load(&j->entering) == 0))
                    break;
                kv__journal_wait_ms(&j->lead_cv, &j->mu, GC_MAX_WAIT_MS - (int)waited);
            }
            commit_shared(j);
            break;
        }
        pthread_cond_wait(&j->done_cv, &j->mu);
    }
    for (unsigned i = 0; i < FAILED_RING && i < j->nfailed; i++)
        if (j->failed[i] == g)
            return KV_J_E_SQL;
    return KV_J_OK;
}

/* End a write unit (j->mu held, outside a batch).  ok: keep its changes
 * and, when wrote, wait until they are durable; else undo them.  A
 * transaction left without units is closed at once. */
static kv_journal_status unit_end(kv_journal *j, int ok, int wrote)
{
    kv_journal_status st = KV_J_OK;
    if (ok) {
        st = exec_simple(j, "RELEASE unit");
        if (st == KV_J_OK && wrote)
            j->tx_units++;
    }
    if (!ok || st) {
        exec_simple(j, "ROLLBACK TO unit");
        exec_simple(j, "RELEASE unit");
    }
    if (j->tx_units == 0 && !j->tx_leader) {
        /* nothing of this transaction is waiting to be committed */
        exec_simple(j, "COMMIT");
        j->resolved_gen = j->tx_gen;
        j->tx_gen = 0;
        return ok ? st : KV_J_OK;
    }
    if (atomic_load(&j->entering) == 0)
        pthread_cond_signal(&j->lead_cv);
    if (ok && st == KV_J_OK && wrote)
        st = wait_durable(j, j->tx_gen);
    return st;
}

/* Take the lock for a write (counted as queued while waiting for it, so a
 * committer lets it join the transaction) and begin its unit unless a
 * batch of this thread is open. */
kv_journal_status kv__journal_w_begin(kv_journal *j)
{
    atomic_fetch_add(&j->entering, 1);
    pthread_mutex_lock(&j->mu);
    atomic_fetch_sub(&j->entering, 1);
    kv_journal_status st = j->batch ? KV_J_OK : unit_begin(j);
    if (st)
        pthread_mutex_unlock(&j->mu);
    return st;
}

/* End the write begun by w_begin with its status st (KV_J_OK keeps it)
 * and release the lock.  Inside a batch, the batch decides. */
kv_journal_status kv__journal_w_end(kv_journal *j, kv_journal_status st, int wrote)
{
    if (!j->batch) {
        kv_journal_status e = unit_end(j, st == KV_J_OK, wrote);
        if (st == KV_J_OK)
            st = e;
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

kv_journal_status kv_journal_batch_begin(kv_journal *j)
{
    if (!j)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_batch_begin(j->pg);
    atomic_fetch_add(&j->entering, 1);
    pthread_mutex_lock(&j->mu);
    atomic_fetch_sub(&j->entering, 1);
    if (j->batch++ == 0) {
        kv_journal_status st = unit_begin(j);
        if (st) {
            j->batch = 0;
            pthread_mutex_unlock(&j->mu);
            return st;
        }
    }
    return KV_J_OK;
}

kv_journal_status kv_journal_batch_end(kv_journal *j, int commit)
{
    if (j && j->pg)
        return kv_jpg_batch_end(j->pg, commit);
    if (!j || j->batch <= 0)
        return KV_J_E_ARG;
    kv_journal_status st = KV_J_OK;
    if (--j->batch == 0)
        st = unit_end(j, commit, 1);
    pthread_mutex_unlock(&j->mu);
    return st;
}

void kv_journal_stats_get(kv_journal *j, kv_journal_stats *out)
{
    if (!j || !out)
        return;
    if (j->pg)
        { kv_jpg_stats_get(j->pg, out); return; }
    pthread_mutex_lock(&j->mu);
    *out = j->stats;
    pthread_mutex_unlock(&j->mu);
}
