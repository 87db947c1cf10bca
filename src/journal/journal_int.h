/* journal_int.h - internal: the journal handle, shared by journal.c,
 * journal_ops.c and journal_om.c (operations, jobs, events; the
 * outbox), journal_tx.c (statement cache, group commit), journal_proxy.c (the
 * proxy's held jobs) and journal_report.c (the back office).  Not
 * installed. */
#ifndef KV_JOURNAL_INT_H
#define KV_JOURNAL_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include "src/journal/journal.h"

/* Prepared statements are kept for the life of the handle, keyed by the
 * address of their SQL text (every statement is a literal at one place). */
#define STMT_CACHE 64
/* Longest a finished commit waits for writers still queued for the lock
 * to join its transaction (group commit). */
#define GC_MAX_WAIT_MS 2
#define FAILED_RING 8

struct kv_journal {
    sqlite3 *db;
    pthread_mutex_t mu;       /* recursive: a batch holder calls the others */
    pthread_cond_t done_cv;   /* broadcast when a shared transaction is resolved */
    pthread_cond_t lead_cv;   /* signalled to the committer when the queue drains */
    int batch;                /* > 0 inside kv_journal_batch_begin/end */
    /* Group commit: every write is a SAVEPOINT unit inside one shared
     * transaction; the first caller that waits for it commits it (one
     * COMMIT, one WAL sync) once no other writer is queued for the lock,
     * and every unit in it is acknowledged together. */
    int64_t tx_gen;           /* generation of the open shared transaction, 0 none */
    int64_t last_gen;
    int64_t resolved_gen;     /* every generation <= this is committed or failed */
    int64_t failed[FAILED_RING]; /* recent generations whose COMMIT failed */
    unsigned nfailed;
    int64_t tx_opened_ms;
    int tx_units;             /* released units in the open transaction */
    int tx_leader;            /* a caller is committing the open transaction */
    atomic_int entering;      /* writers queued for mu */
    pthread_t last_writer;    /* thread of the last write unit */
    int64_t multi_ms;         /* last time a unit came from another thread */
    unsigned batch_avg16;     /* units per COMMIT lately, x16 (moving average) */
    kv_journal_stats stats;
    struct kv_jpg *pg;        /* the PostgreSQL backend, when opened with a DSN */
    int sticker_ready;        /* journal_sticker.c: its tables are in place */
    struct { const char *sql; sqlite3_stmt *st; } cache[STMT_CACHE];
    size_t ncache;
    char errmsg[256];
};

/* journal.c: the time in unix ms; record the handle's SQLite error. */
int64_t kv__journal_now_ms(void);
void kv__journal_set_err(kv_journal *j);

/* journal_tx.c: a write unit (group commit) for the journal files:
 * w_begin takes the lock and opens the unit (on error the lock is
 * released); w_end ends it with st (KV_J_OK keeps it and waits until it
 * is durable when wrote), releases the lock and returns the status. */
kv_journal_status kv__journal_w_begin(kv_journal *j);
kv_journal_status kv__journal_w_end(kv_journal *j, kv_journal_status st, int wrote);
/* journal_tx.c: the cached statement for a literal sql, and its release. */
sqlite3_stmt *kv__journal_prep(kv_journal *j, const char *sql);
void kv__journal_done(kv_journal *j, sqlite3_stmt *st);

/* journal.c: step s (prepared and bound; j->mu held) to its end, reading
 * each row with read into an element of elem bytes of a growing malloc'ed
 * array, then release s.  On KV_J_OK *out (the caller free()s it; NULL when
 * there are no rows) and *n are set; otherwise KV_J_E_NOMEM, or KV_J_E_SQL
 * with the error recorded, and nothing is returned. */
kv_journal_status kv__journal_collect_rows(kv_journal *j, void **out, size_t *n, sqlite3_stmt *s, size_t elem,
                                           void (*read)(void *dst, sqlite3_stmt *s));

/* journal.c: a payment row of a statement that selects PAY_COLS
 * (journal_sql.h) first. */
void kv__journal_read_payment(kv_payment *p, sqlite3_stmt *s);

/* journal_feed.c: inside a write unit (j->mu held), append an event to
 * reference's feed; the feed events of a state change from -> to (state,
 * and result when it enters a final state). */
kv_journal_status kv__journal_feed_insert(kv_journal *j, const char *reference, const char *type,
                                          const char *state, const char *message);
kv_journal_status kv__journal_feed_transition(kv_journal *j, const char *reference, const char *from,
                                              const char *to, const char *note);

/* journal.c, for journal_report.c: the handle's connection (borrowed);
 * take / release the handle's (recursive) lock around reads; 1 inside
 * kv_journal_batch_begin/end of this handle.  Writes go through
 * kv__journal_w_begin/w_end (group commit). */
sqlite3 *kv__journal_db(kv_journal *j);
void kv__journal_lock(kv_journal *j);
void kv__journal_unlock(kv_journal *j);
int kv__journal_in_batch(const kv_journal *j);

#endif
