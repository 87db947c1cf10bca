/*
 * journal.h - the crash-safe payment journal (SQLite, WAL, synchronous=FULL).
 *
 * One journal per installation.  It records, for every payment: the store,
 * amount, state (with a timestamped transition history), every money
 * operation (create, capture #n, refund #n, cancel) with its idempotency key
 * (kept forever), print jobs with their own state (queued, sent, confirmed)
 * and verified webhook events.
 *
 * Rule kept by the flow (src/flow): a money operation row (with its key) is
 * written BEFORE the API call and completed after the answer.  An operation
 * without an answer means "ask the API", never "it failed".
 *
 * Thread-safety: one kv_journal handle may be used from several threads (it
 * serialises calls with a mutex); several processes may open the same file
 * (WAL + busy_timeout).
 *
 * Group commit: every write call (and every batch) is one unit, a
 * savepoint inside a transaction shared by the threads writing at the same
 * time.  A call returns only when its unit is durable: the first caller
 * that waits commits the shared transaction (one COMMIT, one WAL sync)
 * once no other writer is queued for the handle (at most 2 ms after the
 * transaction opened), and every unit in it is acknowledged together.  A
 * failed COMMIT fails every unit in it (KV_J_E_SQL); a failed unit undoes
 * only its own savepoint.  Until the COMMIT, other threads of the process
 * see the units of the open transaction (one connection); other processes
 * do not.  Statements are prepared once per handle and kept.
 */
#ifndef KV_JOURNAL_H
#define KV_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_J_OK = 0,
    KV_J_E_OPEN = -1,       /* cannot open/create the database file */
    KV_J_E_SQL = -2,        /* SQLite error (disk full, corrupt, locked too long) */
    KV_J_E_NOT_FOUND = -3,  /* no such payment / operation */
    KV_J_E_EXISTS = -4,     /* the reference is already journaled */
    KV_J_E_NOMEM = -5,
    KV_J_E_ARG = -6,        /* NULL or malformed argument */
    KV_J_E_CONN = -7,       /* the journal database (PostgreSQL) cannot be reached */
    KV_J_E_UNSUPPORTED = -8 /* not kept by this backend (a table that lives in a
                               SQLite journal only) */
} kv_journal_status;

/* Static text; never NULL, never freed. */
const char *kv_journal_strerror(kv_journal_status st);

/* Payment states of the till flow (stored as their names).  Append only. */
typedef enum {
    KV_PAY_NEW = 0,      /* journaled, create not yet answered */
    KV_PAY_CREATED,      /* created at Vipps, slip not yet printed */
    KV_PAY_WAITING,      /* slip printed, waiting for the customer */
    KV_PAY_AUTHORIZED,   /* customer approved; capture pending */
    KV_PAY_CAPTURED,     /* captured; receipt pending */
    KV_PAY_DONE,         /* captured and receipt printed (final) */
    KV_PAY_NOT_PAID,     /* aborted / expired / terminated (final) */
    KV_PAY_CANCELLED,    /* cancelled by the till before authorization (final) */
    KV_PAY_UNKNOWN       /* outcome unknown; `kvitt recover` resolves it */
} kv_pay_state;

/* "NEW", "CREATED", ...; never NULL. */
const char *kv_pay_state_name(kv_pay_state s);
/* Parse a name; returns 0 and sets *out, or -1. */
int kv_pay_state_parse(kv_pay_state *out, const char *name);
/* 1 for DONE, NOT_PAID, CANCELLED. */
int kv_pay_state_final(kv_pay_state s);

/* Money operation kinds. */
typedef enum {
    KV_OP_CREATE = 0,
    KV_OP_CAPTURE,
    KV_OP_REFUND,
    KV_OP_CANCEL
} kv_op_kind;
const char *kv_op_kind_name(kv_op_kind k);

/* Operation outcome. */
typedef enum {
    KV_OPR_PENDING = 0,  /* written before the call; no answer yet */
    KV_OPR_OK,           /* the API accepted it */
    KV_OPR_REJECTED      /* the API refused it (4xx): the key is spent */
} kv_op_result;

/* Print job documents and states. */
typedef enum { KV_DOC_SLIP = 0, KV_DOC_RECEIPT, KV_DOC_NOT_PAID, KV_DOC_REFUND } kv_doc_kind;
typedef enum { KV_PJ_QUEUED = 0, KV_PJ_SENT, KV_PJ_CONFIRMED, KV_PJ_FAILED } kv_pj_state;
const char *kv_doc_kind_name(kv_doc_kind k);
const char *kv_pj_state_name(kv_pj_state s);

/* One payment row.  Value struct: strings are inline, no ownership. */
typedef struct kv_payment {
    char reference[64];
    char store_id[64];
    char msn[16];            /* MSN the payment was created under */
    char till_id[64];
    char flow[16];           /* epayment-qr | ecom-qr | push | personal-qr | sticker |
                                phone-order | proxy | proxy-ecom (kvitt proxy: the
                                till's receipt is the sale's receipt) */
    char currency[4];
    int64_t amount;          /* minor units */
    int64_t captured;        /* minor units, as last known */
    int64_t refunded;
    kv_pay_state state;
    char api_state[16];      /* last state read from the API (CREATED, AUTHORIZED, ...) */
    char psp_reference[128];
    char reason[128];        /* why not paid / why unknown */
    char description[128];
    char items_json[4096];   /* items as given (JSON array) or "" */
    char qr_url[2048];       /* QR target / image URL from create */
    int64_t created_at;      /* unix seconds */
    int64_t updated_at;
    int64_t expires_at;      /* when the QR expires (unix seconds), 0 unknown */
} kv_payment;

/* One money operation row. */
typedef struct kv_journal_op {
    int64_t id;
    char reference[64];
    kv_op_kind kind;
    int seq;                 /* 1 for create/cancel, n for capture #n / refund #n */
    char idem_key[64];
    int64_t amount;
    kv_op_result result;
    int64_t created_at;
    int64_t answered_at;
} kv_journal_op;

/* One print job row. */
typedef struct kv_print_job {
    int64_t id;
    char reference[64];
    kv_doc_kind doc;
    kv_pj_state state;
    int copy;                /* 1 when printed marked COPY */
    char printer[256];
    char detail[256];        /* last error / virtual job path */
    int64_t created_at;
    int64_t updated_at;
} kv_print_job;

/* One state transition. */
typedef struct kv_transition {
    kv_pay_state from, to;
    char note[128];
    int64_t at_ms;           /* unix milliseconds */
} kv_transition;

typedef struct kv_journal kv_journal;

/* Open (create when absent, mode 0600) the journal at path, creating
 * missing tables; a SQLite file is refused when others may read it (see
 * kv_journal_check_private).  A path that is a PostgreSQL DSN
 * (postgresql://..., postgres://... or a libpq "host=... dbname=..."
 * string) opens the PostgreSQL backend instead (journal_pg.h): its schema
 * migrations are applied first, and several kvitt processes on several
 * machines may share the database.
 * SQLite: WAL, synchronous=FULL, busy_timeout.  On failure returns a status
 * and writes the cause into err (errlen bytes) when err is not NULL.
 * *out is set only on success; free it with kv_journal_close(). */
kv_journal_status kv_journal_open(kv_journal **out, const char *path,
                                  char *err, size_t errlen);
/* Close; NULL is a no-op. */
void kv_journal_close(kv_journal *j);

/* The journal holds payments and the daemon's webhook secrets.  Refuse
 * (KV_J_E_OPEN, with the cause and the chmod that fixes it in err) a
 * journal, -wal, -shm or -journal file that group or others may access,
 * or a folder they may write into; create the database file 0600 when it
 * is absent.  kv_journal_open() calls it; so does any other opener of the
 * same file (the daemon's tables). */
kv_journal_status kv_journal_check_private(const char *path, char *err, size_t errlen);
/* Last SQLite error text of this handle (borrowed, valid until the next
 * call on the handle from the same thread). */
const char *kv_journal_errmsg(kv_journal *j);

/* Counters of a handle: write units acknowledged (each was one
 * transaction and one sync before group commit) and COMMITs that made them
 * durable (one WAL sync each under synchronous=FULL). */
typedef struct kv_journal_stats {
    uint64_t units;
    uint64_t commits;
} kv_journal_stats;
void kv_journal_stats_get(kv_journal *j, kv_journal_stats *out);

/* Group the following calls of THIS thread into one transaction (one
 * fsync instead of one per call): kv_journal_batch_begin takes the
 * handle's lock (other threads wait) and starts a transaction;
 * kv_journal_batch_end commits it (commit != 0; durable on return, see
 * group commit) or rolls it back, and releases the lock.  Calls made
 * between them may not be interleaved with other I/O that takes long
 * (printing, HTTP).  Returns KV_J_OK or
 * KV_J_E_SQL (after a failed commit everything in the batch is undone). */
kv_journal_status kv_journal_batch_begin(kv_journal *j);
kv_journal_status kv_journal_batch_end(kv_journal *j, int commit);

/* Insert a new payment (p->state is stored; a NEW transition is logged).
 * KV_J_E_EXISTS when the reference is already there. */
kv_journal_status kv_journal_add_payment(kv_journal *j, const kv_payment *p);
/* Read one payment by reference into *out. */
kv_journal_status kv_journal_get_payment(kv_journal *j, kv_payment *out, const char *reference);
/* Rewrite the mutable fields of a payment (state, api_state, psp_reference,
 * captured, refunded, reason, qr_url, expires_at).  When the state changes
 * a transition row (from, to, note, time in ms) is added in the same
 * transaction. */
kv_journal_status kv_journal_update_payment(kv_journal *j, const kv_payment *p, const char *note);

/* Money operations.  kv_journal_op_begin inserts a PENDING operation with
 * the next sequence number for (reference, kind) -- or returns the existing
 * PENDING one, so a retry after a crash reuses the same key -- and sets
 * *out.  The key is "<reference>-<kind>-<seq>" (at most 50 characters,
 * reference truncated when needed). */
kv_journal_status kv_journal_op_begin(kv_journal *j, kv_journal_op *out, const char *reference,
                                      kv_op_kind kind, int64_t amount);
/* Record the answer of an operation. */
kv_journal_status kv_journal_op_finish(kv_journal *j, int64_t op_id, kv_op_result res);
/* The most recent operation of a kind for a reference (any result). */
kv_journal_status kv_journal_op_last(kv_journal *j, kv_journal_op *out, const char *reference,
                                     kv_op_kind kind);
/* Every PENDING operation of a kind (all references), oldest first.
 * *out is malloc'd (free()), *n set. */
kv_journal_status kv_journal_ops_pending(kv_journal *j, kv_journal_op **out, size_t *n, kv_op_kind kind);
/* Count operations of a kind with a given result (-1 = any result). */
int kv_journal_op_count(kv_journal *j, const char *reference, kv_op_kind kind, int result);

/* Print jobs.  kv_journal_job_add inserts a QUEUED job and sets *id. */
kv_journal_status kv_journal_job_add(kv_journal *j, int64_t *id, const char *reference,
                                     kv_doc_kind doc, int copy, const char *printer);
kv_journal_status kv_journal_job_set(kv_journal *j, int64_t id, kv_pj_state st, const char *detail);
/* The latest job of a document kind for a reference. */
kv_journal_status kv_journal_job_last(kv_journal *j, kv_print_job *out, const char *reference,
                                      kv_doc_kind doc);

/* Webhook events (verified by the caller). */
kv_journal_status kv_journal_add_event(kv_journal *j, const char *reference, const char *name,
                                       const char *body);
int kv_journal_event_count(kv_journal *j, const char *reference);

/* ---- a payment's event feed (the daemon's GET /v1/payments/REF/events) ----
 * Every payment has one numbered feed in the journal, shared by every
 * process and instance that uses it: seq 1, 2, 3, ... per reference,
 * without gaps, assigned at the write.  The journal writes the feed's
 * events itself, in the same write unit as what they report:
 *   "state"   every state change (kv_journal_add_payment, and
 *             kv_journal_update_payment when the state changes; message =
 *             the note);
 *   "result"  right after "state" when the payment enters a final state
 *             (DONE, NOT_PAID, CANCELLED) from one that is not;
 *   "webhook" every kv_journal_add_event (message = the event name).
 * kv_journal_feed_add appends any other event (a daemon's result of a
 * wait that ended without a final state) as a unit of its own.  On
 * PostgreSQL every feed write notifies channel kvitt_feed with the
 * reference (at COMMIT). */
typedef struct kv_feed_event {
    int seq;
    int64_t at_ms;            /* unix milliseconds */
    char type[12];            /* state | result | webhook | ... */
    char state[16];           /* a payment state name, or "" */
    char message[120];
} kv_feed_event;
kv_journal_status kv_journal_feed_add(kv_journal *j, const char *reference, const char *type,
                                      const char *state, const char *message);
/* The events of reference's feed with seq > after, oldest first, at most
 * limit (0 = 1000).  *out is malloc'd (free(); NULL when none), *n set. */
kv_journal_status kv_journal_feed_read(kv_journal *j, const char *reference, int after, int limit,
                                       kv_feed_event **out, size_t *n);

/* Transitions of a payment, oldest first.  *out is malloc'd (free()), *n set. */
kv_journal_status kv_journal_transitions(kv_journal *j, kv_transition **out, size_t *n,
                                         const char *reference);

/* Search.  Any field may be NULL/0 (= no filter): reference (exact),
 * store_id (exact), since (unix seconds, created_at >= since),
 * unfinished_only (state not final), limit (0 = 1000).  Results newest
 * first; *out is malloc'd (free()), *n set. */
typedef struct kv_journal_query {
    const char *reference;
    const char *store_id;
    int64_t since;
    int unfinished_only;
    int limit;
} kv_journal_query;
kv_journal_status kv_journal_find(kv_journal *j, kv_payment **out, size_t *n,
                                  const kv_journal_query *q);

/* ---- Order Management receipt outbox (flow) ------------------------
 * One row per payment whose receipt goes to the app through Order
 * Management: PENDING until the service accepted it (or answered that it
 * already has it), SKIPPED when the configuration says not to send it
 * (detail says why).  kv_journal_om_add never adds a second row for a
 * reference (a receipt is sent at most once). */
typedef enum { KV_OM_PENDING = 0, KV_OM_DELIVERED, KV_OM_SKIPPED } kv_om_state;
const char *kv_om_state_name(kv_om_state st);

typedef struct kv_om_entry {
    char reference[64];
    char store_id[64];
    kv_om_state state;
    int attempts;
    int64_t next_at;          /* unix seconds: not retried before */
    char detail[256];         /* last error, or why skipped */
} kv_om_entry;

kv_journal_status kv_journal_om_add(kv_journal *j, const char *reference, const char *store_id);
kv_journal_status kv_journal_om_get(kv_journal *j, kv_om_entry *out, const char *reference);
/* PENDING rows with next_at <= now, oldest first.  *out malloc'd (free()). */
kv_journal_status kv_journal_om_due(kv_journal *j, int64_t now, kv_om_entry **out, size_t *n);
kv_journal_status kv_journal_om_set(kv_journal *j, const char *reference, kv_om_state state, int attempts,
                                    int64_t next_at, const char *detail);

/* PostgreSQL: the number of connections the handle's calls run on at once
 * (1..32, default 4; more are not opened).  No-op on SQLite. */
void kv_journal_set_pool(kv_journal *j, int connections);

/* 1 when the journal is a database shared by several kvitt instances
 * (PostgreSQL), 0 for a SQLite file. */
int kv_journal_is_shared(kv_journal *j);

/* A cheap round trip to the database (readiness probes): KV_J_OK, or
 * KV_J_E_CONN / KV_J_E_SQL when it cannot answer. */
kv_journal_status kv_journal_ping(kv_journal *j);

/* Per-reference lock across instances sharing a PostgreSQL journal: a
 * session-level advisory lock on a connection of this handle, released by
 * kv_journal_unlock_ref or when the process (or its connection) dies.
 * try = 1: KV_J_E_EXISTS at once when another instance holds it; else it
 * waits.  KV_J_E_CONN when the database cannot be reached.  On a SQLite
 * journal it does nothing and returns KV_J_OK (the flow locks a byte of
 * <journal>.lock instead). */
kv_journal_status kv_journal_lock_ref(kv_journal *j, const char *reference, int try);
void kv_journal_unlock_ref(kv_journal *j, const char *reference);

#endif
