/* journal_pg_schema.c - versioned schema of the journal on PostgreSQL.
 * Append a step for every change; never edit a step that has shipped. */
#include "src/journal/journal_pg.h"

static const char *const steps[] = {
    /* 1: the tables of the SQLite journal, with BIGINT times and money */
    "CREATE TABLE payments ("
    " reference TEXT PRIMARY KEY, store_id TEXT NOT NULL, msn TEXT NOT NULL, till_id TEXT NOT NULL,"
    " flow TEXT NOT NULL, currency TEXT NOT NULL, amount BIGINT NOT NULL,"
    " captured BIGINT NOT NULL DEFAULT 0, refunded BIGINT NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL, api_state TEXT NOT NULL DEFAULT '', psp_reference TEXT NOT NULL DEFAULT '',"
    " reason TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', items_json TEXT NOT NULL DEFAULT '',"
    " qr_url TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL DEFAULT 0, seq BIGSERIAL);"
    "CREATE INDEX payments_store ON payments(store_id, created_at);"
    "CREATE INDEX payments_created ON payments(created_at);"
    "CREATE INDEX payments_unfinished ON payments(state) WHERE state NOT IN ('DONE','NOT_PAID','CANCELLED');"
    "CREATE TABLE transitions ("
    " id BIGSERIAL PRIMARY KEY, reference TEXT NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '', at_ms BIGINT NOT NULL);"
    "CREATE INDEX transitions_ref ON transitions(reference, id);"
    "CREATE TABLE operations ("
    " id BIGSERIAL PRIMARY KEY, reference TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,"
    " idem_key TEXT NOT NULL UNIQUE, amount BIGINT NOT NULL, result TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, answered_at BIGINT NOT NULL DEFAULT 0,"
    " UNIQUE(reference, kind, seq));"
    "CREATE INDEX operations_pending ON operations(kind, id) WHERE result = 'pending';"
    "CREATE TABLE print_jobs ("
    " id BIGSERIAL PRIMARY KEY, reference TEXT NOT NULL, doc TEXT NOT NULL, state TEXT NOT NULL,"
    " copy INTEGER NOT NULL DEFAULT 0, printer TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '',"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX print_jobs_ref ON print_jobs(reference, doc, id);"
    "CREATE TABLE webhook_events ("
    " id BIGSERIAL PRIMARY KEY, reference TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,"
    " received_ms BIGINT NOT NULL);"
    "CREATE INDEX webhook_ref ON webhook_events(reference);",
    /* 2: the Order Management receipt outbox */
    "CREATE TABLE om_outbox ("
    " reference TEXT PRIMARY KEY, store_id TEXT NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at BIGINT NOT NULL DEFAULT 0,"
    " detail TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX om_outbox_due ON om_outbox(next_at) WHERE state = 'pending';",
    /* 3: `kvitt journal migrate` markers: which rows of which SQLite file
     * were copied (resumable, never twice) */
    "CREATE TABLE kvitt_migrated ("
    " source TEXT NOT NULL, tbl TEXT NOT NULL, src_id BIGINT NOT NULL, key TEXT,"
    " PRIMARY KEY (source, tbl, src_id));"
    "CREATE INDEX kvitt_migrated_key ON kvitt_migrated(source, tbl, key);",
    /* each payment's numbered event feed: feed_heads hands out the
     * numbers (one row per reference, taken under its row lock), so two
     * instances writing events of one payment at once never clash */
    "CREATE TABLE feed_heads (reference TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
    "CREATE TABLE feed_events ("
    " reference TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '', at_ms BIGINT NOT NULL, PRIMARY KEY (reference, seq));",
};

const kv_pg_schema kv_jpg_schema = { "journal", steps, (int)(sizeof steps / sizeof steps[0]) };
