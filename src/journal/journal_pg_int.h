/*
 * journal_pg_int.h - what the PostgreSQL journal's files share (internal):
 * the handle, its connections, statement parameters, and the write units
 * of journal_pg_pool.c.
 *
 * Write units and group commit (journal_pg_pool.c): every write call is a
 * unit, a savepoint inside a transaction that the units of the threads
 * writing at the same time share on one pooled connection (a "group").
 * The units of a group run one after the other; the first unit that
 * waits for durability leads: it COMMITs once no unit is running or
 * queued in the group (while units come in faster than one per
 * GC_HOLD_MS, not before GC_HOLD_MS after the group opened, so that they
 * can join it; never later) and wakes all of them; nothing is acknowledged before that COMMIT answered.
 * A failed COMMIT fails every unit in it (each caller gets the status); a
 * unit's own failure rolls back only its savepoint.
 *
 * Row locks taken in a group are held until its COMMIT.  So that this
 * never deadlocks (with another group of this process, another daemon, a
 * batch), only the first unit of a group may wait for a lock as long as it
 * takes (the group holds nothing else yet: it is a transaction of its
 * own); a unit that joins units already done runs under a short
 * lock_timeout and, when that expires, is undone and run again at the
 * head of a fresh group.  A batch always heads a fresh group (its calls
 * cannot be run again), and other units may join it after batch_end.
 */
#ifndef KV_JOURNAL_PG_INT_H
#define KV_JOURNAL_PG_INT_H

#include <pthread.h>

#include "src/journal/journal_pg.h"

#define POOL_MAX 32
#define POOL_DEFAULT 4

/* A unit that met a lock it may not wait for (internal, never returned). */
#define KV__JPG_LOCK_BUSY ((kv_journal_status)100)

typedef struct pconn {
    struct kv_jpg *p;
    PGconn *c;                /* NULL until first used (or after a loss) */
    int busy;                 /* taken: a reader, a solo unit or a group (p->mu) */
    int batch;                /* > 0: inside the owner's batch_begin/end */
    pthread_t owner;
    /* its group (p->mu) */
    pthread_cond_t turn_cv;   /* the running unit ended; the group closes */
    pthread_cond_t done_cv;   /* the group resolved */
    int64_t gen;              /* the group's number; 0 none */
    int units;                /* units done in it, waiting for its COMMIT */
    int running;              /* a unit runs its statements */
    int queued;               /* units waiting for their turn in it */
    int leader;               /* a unit leads its COMMIT */
    int closing;              /* its COMMIT is under way: no new units */
    int timed;                /* lock_timeout is set in its transaction */
    int64_t opened_us;
} pconn;

struct kv_jpg {
    pthread_mutex_t mu;       /* the pool, the groups, stats, errmsg */
    pthread_cond_t cv;        /* a connection came free, a group opened */
    pconn pool[POOL_MAX];
    int npool;                /* connections in use (kv_jpg_set_pool) */
    pconn *open;              /* the group units join; NULL none */
    int64_t last_us;          /* when the last unit or batch began */
    int64_t gap_us;           /* the mean time between them lately */
    int64_t last_gen;
    struct { int64_t gen; kv_journal_status st; } failed[32]; /* failed COMMITs */
    unsigned nfailed;
    char *dsn;
    kv_journal_stats stats;
    char errmsg[600];
    /* the session that holds this process's per-reference advisory locks
     * (dies with the process: another instance may then take them) */
    pthread_mutex_t lmu;
    PGconn *lc;
};

/* Parameters of one statement (journal_pg.h). */
typedef kv_jpg_params params;

/* Run sql with parameters on pc; *out (may be NULL) gets the result when
 * it succeeded (PQclear it). */
kv_journal_status kv__jpg_q(pconn *pc, PGresult **out, const char *sql, const params *pv);

/* A connection for a read, connected (give it back with kv__jpg_release);
 * NULL with *st set when none. */
pconn *kv__jpg_reader(kv_jpg *p, kv_journal_status *st);
void kv__jpg_release(pconn *pc);

/* The statements of one write unit, run on pc inside its savepoint.  May
 * run twice (the first attempt undone): outputs go to arg and are copied
 * out by the caller once kv__jpg_unit returned KV_J_OK. */
typedef kv_journal_status (*kv__jpg_body)(pconn *pc, void *arg);

/* Run body as one write unit (see above; inside this thread's batch: a
 * savepoint of the batch).  Returns once the unit is durable, or failed. */
kv_journal_status kv__jpg_unit(kv_jpg *p, kv__jpg_body body, void *arg);

/* journal_tx.c: wait on cv (whose clock is CLOCK_MONOTONIC) for at most
 * ms milliseconds. */
void kv__journal_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms);

/* Short names inside journal_pg*.c. */
static inline kv_journal_status q(pconn *pc, PGresult **out, const char *sql, const params *pv)
{
    return kv__jpg_q(pc, out, sql, pv);
}

static inline pconn *reader(kv_jpg *p, kv_journal_status *st)
{
    return kv__jpg_reader(p, st);
}

static inline void release(pconn *pc)
{
    kv__jpg_release(pc);
}

#endif
