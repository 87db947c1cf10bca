/* journal.c - SQLite journal of payments, money operations and print jobs. */
#include "src/journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "src/journal/journal_int.h"
#include "src/journal/journal_sql.h"
#include "src/journal/journal_pg.h"
#include "src/util/sqlfile.h"

const char *kv_journal_strerror(kv_journal_status st)
{
    switch (st) {
    case KV_J_OK: return "ok";
    case KV_J_E_OPEN: return "the journal cannot be opened";
    case KV_J_E_SQL: return "the journal cannot be written (disk full, locked or damaged)";
    case KV_J_E_NOT_FOUND: return "no such payment in the journal";
    case KV_J_E_EXISTS: return "the reference is already in the journal";
    case KV_J_E_NOMEM: return "out of memory";
    case KV_J_E_ARG: return "bad argument";
    case KV_J_E_CONN: return "the journal database cannot be reached";
    case KV_J_E_UNSUPPORTED: return "not available on a PostgreSQL journal yet (use a SQLite journal for this)";
    }
    return "unknown journal status";
}

static const char *const state_names[] = {
    "NEW", "CREATED", "WAITING", "AUTHORIZED", "CAPTURED", "DONE", "NOT_PAID", "CANCELLED", "UNKNOWN" };

const char *kv_pay_state_name(kv_pay_state s)
{
    switch (s) {
    case KV_PAY_NEW: case KV_PAY_CREATED: case KV_PAY_WAITING: case KV_PAY_AUTHORIZED:
    case KV_PAY_CAPTURED: case KV_PAY_DONE: case KV_PAY_NOT_PAID: case KV_PAY_CANCELLED:
    case KV_PAY_UNKNOWN:
        return state_names[s];
    }
    return "?";
}

int kv_pay_state_parse(kv_pay_state *out, const char *name)
{
    for (int i = 0; i < (int)(sizeof state_names / sizeof state_names[0]); i++) {
        if (name && strcmp(name, state_names[i]) == 0) {
            *out = (kv_pay_state)i;
            return 0;
        }
    }
    return -1;
}

int kv_pay_state_final(kv_pay_state s)
{
    return s == KV_PAY_DONE || s == KV_PAY_NOT_PAID || s == KV_PAY_CANCELLED;
}

const char *kv_op_kind_name(kv_op_kind k)
{
    switch (k) {
    case KV_OP_CREATE: return "create";
    case KV_OP_CAPTURE: return "capture";
    case KV_OP_REFUND: return "refund";
    case KV_OP_CANCEL: return "cancel";
    }
    return "?";
}

const char *kv_doc_kind_name(kv_doc_kind k)
{
    switch (k) {
    case KV_DOC_SLIP: return "slip";
    case KV_DOC_RECEIPT: return "receipt";
    case KV_DOC_NOT_PAID: return "not-paid";
    case KV_DOC_REFUND: return "refund";
    }
    return "?";
}

const char *kv_pj_state_name(kv_pj_state s)
{
    switch (s) {
    case KV_PJ_QUEUED: return "queued";
    case KV_PJ_SENT: return "sent";
    case KV_PJ_CONFIRMED: return "confirmed";
    case KV_PJ_FAILED: return "failed";
    }
    return "?";
}

int64_t kv__journal_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS payments ("
    " reference TEXT PRIMARY KEY, store_id TEXT NOT NULL, msn TEXT NOT NULL, till_id TEXT NOT NULL,"
    " flow TEXT NOT NULL, currency TEXT NOT NULL, amount INTEGER NOT NULL,"
    " captured INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL, api_state TEXT NOT NULL DEFAULT '', psp_reference TEXT NOT NULL DEFAULT '',"
    " reason TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', items_json TEXT NOT NULL DEFAULT '',"
    " qr_url TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS payments_store ON payments(store_id, created_at);"
    "CREATE INDEX IF NOT EXISTS payments_created ON payments(created_at);"
    "CREATE TABLE IF NOT EXISTS transitions ("
    " id INTEGER PRIMARY KEY, reference TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '', at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS transitions_ref ON transitions(reference, id);"
    "CREATE TABLE IF NOT EXISTS operations ("
    " id INTEGER PRIMARY KEY, reference TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,"
    " idem_key TEXT NOT NULL UNIQUE, amount INTEGER NOT NULL, result TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, answered_at INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(reference, kind, seq));"
    "CREATE TABLE IF NOT EXISTS print_jobs ("
    " id INTEGER PRIMARY KEY, reference TEXT NOT NULL, doc TEXT NOT NULL, state TEXT NOT NULL,"
    " copy INTEGER NOT NULL DEFAULT 0, printer TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS print_jobs_ref ON print_jobs(reference, doc, id);"
    "CREATE TABLE IF NOT EXISTS webhook_events ("
    " id INTEGER PRIMARY KEY, reference TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
    " received_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS webhook_ref ON webhook_events(reference);"
    /* Order Management receipt outbox (flow): one row per payment */
    "CREATE TABLE IF NOT EXISTS om_outbox ("
    " reference TEXT PRIMARY KEY, store_id TEXT NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
    " detail TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    /* each payment's numbered event feed (journal_feed.c) */
    "CREATE TABLE IF NOT EXISTS feed_events ("
    " reference TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '', at_ms INTEGER NOT NULL, PRIMARY KEY (reference, seq)) WITHOUT ROWID;";

void kv__journal_set_err(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
}

/* One file of the journal set that exists: refused when group or others
 * have any access to it. */
static int private_file(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 0;   /* absent: created 0600 below (or by SQLite from the db's mode) */
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        if (err)
            snprintf(err, errlen, "journal %s: refused: it holds payments and webhook secrets but "
                     "%s may %s it (mode %04o); fix: chmod 600 %s", path,
                     (sb.st_mode & S_IRWXO) ? "others" : "its group",
                     (sb.st_mode & (S_IWGRP | S_IWOTH)) ? "write" : "read",
                     (unsigned)(sb.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

kv_journal_status kv_journal_check_private(const char *path, char *err, size_t errlen)
{
    if (!path || !*path)
        return KV_J_E_ARG;
    /* The folder: others who may write into it could replace the files. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) == 0 && (sb.st_mode & (S_IWGRP | S_IWOTH))) {
        if (err)
            snprintf(err, errlen, "journal %s: refused: %s may write into its folder %s (mode "
                     "%04o); fix: chmod go-w %s (or move the journal to a private folder)", path,
                     (sb.st_mode & S_IWOTH) ? "others" : "its group", dir,
                     (unsigned)(sb.st_mode & 07777), dir);
        return KV_J_E_OPEN;
    }
    static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        char f[4200];
        snprintf(f, sizeof f, "%s%s", path, sfx[i]);
        if (private_file(f, err, errlen) < 0)
            return KV_J_E_OPEN;
    }
    /* Create the database file 0600 before SQLite does (SQLite gives the
     * -wal and -shm files the database's mode).  Only when it is absent
     * (O_EXCL): opening and closing a file this process already has open
     * through SQLite would drop SQLite's POSIX locks on it. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd);
    return KV_J_OK;
}

kv_journal_status kv_journal_open(kv_journal **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path)
        return KV_J_E_ARG;
    /* A SQLite file holds the webhook secrets: never readable by others.
     * A PostgreSQL DSN names no file (the server keeps its own files). */
    if (!kv_pg_is_dsn(path) && kv_journal_check_private(path, err, errlen) != KV_J_OK)
        return KV_J_E_OPEN;
    kv_journal *j = calloc(1, sizeof *j);
    if (!j)
        return KV_J_E_NOMEM;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&j->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->done_cv, &ca);
    pthread_cond_init(&j->lead_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (kv_pg_is_dsn(path)) {
        kv_journal_status pst = kv_jpg_open(&j->pg, path, err, errlen);
        if (pst) {
            kv_journal_close(j);
            return pst;
        }
        *out = j;
        return KV_J_OK;
    }
    int rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "journal %s: %s; fix: check that its folder exists and is writable",
                     path, j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
        kv_journal_close(j);
        return KV_J_E_OPEN;
    }
    sqlite3_busy_timeout(j->db, 10000);
    char *emsg = NULL;
    rc = kv_sqlfile_setup(j->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                          schema, 10000, &emsg);
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "journal %s: %s; fix: check the file is a kvitt journal and the disk is writable",
                     path, emsg ? emsg : sqlite3_errstr(rc));
        sqlite3_free(emsg);
        kv_journal_close(j);
        return KV_J_E_OPEN;
    }
    *out = j;
    return KV_J_OK;
}

void kv_journal_close(kv_journal *j)
{
    if (!j)
        return;
    kv_jpg_close(j->pg);
    for (size_t i = 0; i < j->ncache; i++)
        sqlite3_finalize(j->cache[i].st);
    if (j->db) {
        if (j->tx_gen)
            sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close_v2(j->db);
    }
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->done_cv);
    pthread_cond_destroy(&j->lead_cv);
    free(j);
}

const char *kv_journal_errmsg(kv_journal *j)
{
    return !j ? "" : j->pg ? kv_jpg_errmsg(j->pg) : j->errmsg;
}

static kv_journal_status add_transition(kv_journal *j, const char *ref, const char *from, const char *to,
                                        const char *note)
{
    sqlite3_stmt *s = prep(j, "INSERT INTO transitions(reference, from_state, to_state, note, at_ms) VALUES(?,?,?,?,?)");
    if (!s)
        return KV_J_E_SQL;
    bt(s, 1, ref);
    bt(s, 2, from);
    bt(s, 3, to);
    bt(s, 4, note);
    sqlite3_bind_int64(s, 5, now_ms());
    kv_journal_status st = step_write(j, s);
    return st ? st : kv__journal_feed_transition(j, ref, from, to, note);
}

kv_journal_status kv_journal_add_payment(kv_journal *j, const kv_payment *p)
{
    if (!j || !p || !p->reference[0])
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_add_payment(j->pg, p);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "INSERT INTO payments(reference, store_id, msn, till_id, flow, currency, amount,"
                              " captured, refunded, state, api_state, psp_reference, reason, description, items_json,"
                              " qr_url, created_at, updated_at, expires_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s) {
        st = KV_J_E_SQL;
        goto rollback;
    }
    int64_t now = now_ms() / 1000;
    bt(s, 1, p->reference);
    bt(s, 2, p->store_id);
    bt(s, 3, p->msn);
    bt(s, 4, p->till_id);
    bt(s, 5, p->flow);
    bt(s, 6, p->currency);
    sqlite3_bind_int64(s, 7, p->amount);
    sqlite3_bind_int64(s, 8, p->captured);
    sqlite3_bind_int64(s, 9, p->refunded);
    bt(s, 10, kv_pay_state_name(p->state));
    bt(s, 11, p->api_state);
    bt(s, 12, p->psp_reference);
    bt(s, 13, p->reason);
    bt(s, 14, p->description);
    bt(s, 15, p->items_json);
    bt(s, 16, p->qr_url);
    sqlite3_bind_int64(s, 17, p->created_at ? p->created_at : now);
    sqlite3_bind_int64(s, 18, now);
    sqlite3_bind_int64(s, 19, p->expires_at);
    int rc = sqlite3_step(s);
    done(j, s);
    if (rc == SQLITE_CONSTRAINT) {
        st = KV_J_E_EXISTS;
        goto rollback;
    }
    if (rc != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
        goto rollback;
    }
    st = add_transition(j, p->reference, "", kv_pay_state_name(p->state), "journaled");
    if (st)
        goto rollback;
rollback:
    return w_end(j, st, 1);
}

/* See journal_int.h. */
void kv__journal_read_payment(kv_payment *p, sqlite3_stmt *s)
{
    memset(p, 0, sizeof *p);
    col_str(p->reference, sizeof p->reference, s, 0);
    col_str(p->store_id, sizeof p->store_id, s, 1);
    col_str(p->msn, sizeof p->msn, s, 2);
    col_str(p->till_id, sizeof p->till_id, s, 3);
    col_str(p->flow, sizeof p->flow, s, 4);
    col_str(p->currency, sizeof p->currency, s, 5);
    p->amount = sqlite3_column_int64(s, 6);
    p->captured = sqlite3_column_int64(s, 7);
    p->refunded = sqlite3_column_int64(s, 8);
    char st[32];
    col_str(st, sizeof st, s, 9);
    if (kv_pay_state_parse(&p->state, st))
        p->state = KV_PAY_UNKNOWN;
    col_str(p->api_state, sizeof p->api_state, s, 10);
    col_str(p->psp_reference, sizeof p->psp_reference, s, 11);
    col_str(p->reason, sizeof p->reason, s, 12);
    col_str(p->description, sizeof p->description, s, 13);
    col_str(p->items_json, sizeof p->items_json, s, 14);
    col_str(p->qr_url, sizeof p->qr_url, s, 15);
    p->created_at = sqlite3_column_int64(s, 16);
    p->updated_at = sqlite3_column_int64(s, 17);
    p->expires_at = sqlite3_column_int64(s, 18);
}

static kv_journal_status get_locked(kv_journal *j, kv_payment *out, const char *reference)
{
    sqlite3_stmt *s = prep(j, "SELECT " PAY_COLS " FROM payments WHERE reference = ?");
    if (!s)
        return KV_J_E_SQL;
    bt(s, 1, reference);
    int rc = sqlite3_step(s);
    kv_journal_status st = KV_J_OK;
    if (rc == SQLITE_ROW)
        kv__journal_read_payment(out, s);
    else if (rc == SQLITE_DONE)
        st = KV_J_E_NOT_FOUND;
    else {
        set_err(j);
        st = KV_J_E_SQL;
    }
    done(j, s);
    return st;
}

kv_journal_status kv_journal_get_payment(kv_journal *j, kv_payment *out, const char *reference)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_get_payment(j->pg, out, reference);
    kv_payment tmp;
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = get_locked(j, &tmp, reference);
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK)
        *out = tmp;
    return st;
}

kv_journal_status kv_journal_update_payment(kv_journal *j, const kv_payment *p, const char *note)
{
    if (!j || !p)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_update_payment(j->pg, p, note);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    kv_payment old;
    st = get_locked(j, &old, p->reference);
    if (st)
        goto rollback;
    sqlite3_stmt *s = prep(j, "UPDATE payments SET state=?, api_state=?, psp_reference=?, captured=?, refunded=?,"
                              " reason=?, qr_url=?, expires_at=?, updated_at=? WHERE reference=?");
    if (!s) {
        st = KV_J_E_SQL;
        goto rollback;
    }
    bt(s, 1, kv_pay_state_name(p->state));
    bt(s, 2, p->api_state);
    bt(s, 3, p->psp_reference);
    sqlite3_bind_int64(s, 4, p->captured);
    sqlite3_bind_int64(s, 5, p->refunded);
    bt(s, 6, p->reason);
    bt(s, 7, p->qr_url);
    sqlite3_bind_int64(s, 8, p->expires_at);
    sqlite3_bind_int64(s, 9, now_ms() / 1000);
    bt(s, 10, p->reference);
    int rc = sqlite3_step(s);
    done(j, s);
    if (rc != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
        goto rollback;
    }
    if (old.state != p->state) {
        st = add_transition(j, p->reference, kv_pay_state_name(old.state), kv_pay_state_name(p->state), note);
        if (st)
            goto rollback;
    }
rollback:
    return w_end(j, st, 1);
}

/* Row reader for collect_rows: dst is one element of the array. */
static void read_payment_row(void *dst, sqlite3_stmt *s)
{
    kv__journal_read_payment(dst, s);
}

/* See journal_int.h. */
kv_journal_status kv__journal_collect_rows(kv_journal *j, void **out, size_t *n, sqlite3_stmt *s, size_t elem,
                                           void (*read)(void *dst, sqlite3_stmt *s))
{
    kv_journal_status st = KV_J_OK;
    char *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            char *nv = realloc(v, cap * elem);
            if (!nv) {
                st = KV_J_E_NOMEM;
                break;
            }
            v = nv;
        }
        read(v + cnt++ * elem, s);
    }
    if (st == KV_J_OK && rc != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
    }
    done(j, s);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    *n = cnt;
    return KV_J_OK;
}

kv_journal_status kv_journal_find(kv_journal *j, kv_payment **out, size_t *n, const kv_journal_query *q)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    kv_journal_query dq = { 0 };
    if (!q)
        q = &dq;
    if (j->pg)
        return kv_jpg_find(j->pg, out, n, q);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t cnt = 0;
    sqlite3_stmt *s = prep(j, "SELECT " PAY_COLS " FROM payments WHERE (?1 = '' OR reference = ?1)"
                              " AND (?2 = '' OR store_id = ?2) AND created_at >= ?3"
                              " AND (?4 = 0 OR state NOT IN ('DONE','NOT_PAID','CANCELLED'))"
                              " ORDER BY created_at DESC, rowid DESC LIMIT ?5");
    if (s) {
        bt(s, 1, q->reference);
        bt(s, 2, q->store_id);
        sqlite3_bind_int64(s, 3, q->since);
        sqlite3_bind_int(s, 4, q->unfinished_only ? 1 : 0);
        sqlite3_bind_int(s, 5, q->limit > 0 ? q->limit : 1000);
        st = collect_rows(j, &v, &cnt, s, sizeof(kv_payment), read_payment_row);
    }
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK) {
        *out = v;
        *n = cnt;
    }
    return st;
}

/* ---- back office (src/journal/journal_report.c): the handle's database
 * and lock for the report tables (see journal_int.h) ---- */

sqlite3 *kv__journal_db(kv_journal *j)
{
    return j ? j->db : NULL;
}

void kv__journal_lock(kv_journal *j)
{
    pthread_mutex_lock(&j->mu);
}

void kv__journal_unlock(kv_journal *j)
{
    pthread_mutex_unlock(&j->mu);
}

int kv__journal_in_batch(const kv_journal *j)
{
    return j->batch > 0;
}

void kv_journal_set_pool(kv_journal *j, int connections)
{
    if (j && j->pg)
        kv_jpg_set_pool(j->pg, connections);
}

int kv_journal_is_shared(kv_journal *j)
{
    return j && j->pg;
}

kv_journal_status kv_journal_ping(kv_journal *j)
{
    if (!j)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_ping(j->pg);
    pthread_mutex_lock(&j->mu);
    sqlite3_stmt *st = prep(j, "SELECT 1");
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (st)
        done(j, st);
    pthread_mutex_unlock(&j->mu);
    return rc == SQLITE_ROW ? KV_J_OK : KV_J_E_SQL;
}

kv_journal_status kv_journal_lock_ref(kv_journal *j, const char *reference, int try)
{
    if (!j || !reference)
        return KV_J_E_ARG;
    return j->pg ? kv_jpg_lock_ref(j->pg, reference, try) : KV_J_OK;
}

void kv_journal_unlock_ref(kv_journal *j, const char *reference)
{
    if (j && j->pg && reference)
        kv_jpg_unlock_ref(j->pg, reference);
}
