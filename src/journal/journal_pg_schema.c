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
    /* 4: the sticker flow (journal_sticker_pg.c): stickers, check-ins and
     * waiting amounts shared by the instances of a chain.  At most one
     * held check-in per sticker and one waiting amount per till. */
    "CREATE TABLE stickers ("
    " id TEXT PRIMARY KEY, till TEXT NOT NULL, store TEXT NOT NULL, msn TEXT NOT NULL,"
    " location TEXT NOT NULL, content TEXT NOT NULL, created_at BIGINT NOT NULL,"
    " printed_at BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE sticker_checkins ("
    " key TEXT PRIMARY KEY, sticker TEXT NOT NULL, msn TEXT NOT NULL, token TEXT NOT NULL,"
    " state TEXT NOT NULL, received_ms BIGINT NOT NULL, hold_until_ms BIGINT NOT NULL);"
    "CREATE UNIQUE INDEX sticker_checkins_held ON sticker_checkins(sticker, msn) WHERE state = 'held';"
    "CREATE INDEX sticker_checkins_received ON sticker_checkins(received_ms);"
    "CREATE TABLE sticker_waits ("
    " reference TEXT PRIMARY KEY, till TEXT NOT NULL, sticker TEXT NOT NULL, state TEXT NOT NULL,"
    " request TEXT NOT NULL, created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL,"
    " token TEXT NOT NULL DEFAULT '', token_until_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX sticker_waits_waiting ON sticker_waits(till) WHERE state = 'waiting';"
    "CREATE INDEX sticker_waits_open ON sticker_waits(sticker, created_ms) WHERE state IN ('waiting', 'paired');",
    /* 5: the back office, as in the SQLite journal: Z reports (z_tills is
     * the row a Z close of a till locks, so the numbers of a till are
     * given out one at a time across every instance), the Report API
     * feed's cursors and entries (seq keeps the feed order) */
    "CREATE TABLE z_reports ("
    " store_id TEXT NOT NULL, till_id TEXT NOT NULL, day TEXT NOT NULL, z_number BIGINT NOT NULL,"
    " closed_at BIGINT NOT NULL, figures TEXT NOT NULL, printed INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store_id, till_id, day), UNIQUE(store_id, till_id, z_number), CHECK(z_number > 0));"
    "CREATE INDEX z_reports_day ON z_reports(day);"
    "CREATE TABLE z_tills ("
    " store_id TEXT NOT NULL, till_id TEXT NOT NULL, last_z BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store_id, till_id));"
    "CREATE TABLE ledger_feed ("
    " ledger_id TEXT NOT NULL, topic TEXT NOT NULL, cursor TEXT NOT NULL, updated_ms BIGINT NOT NULL,"
    " PRIMARY KEY(ledger_id, topic));"
    "CREATE TABLE ledger_entries ("
    " seq BIGSERIAL PRIMARY KEY, ledger_id TEXT NOT NULL, topic TEXT NOT NULL, psp_reference TEXT NOT NULL,"
    " reference TEXT NOT NULL, entry_type TEXT NOT NULL, amount BIGINT NOT NULL, currency TEXT NOT NULL,"
    " ledger_date TEXT NOT NULL, time TEXT NOT NULL, recipient TEXT NOT NULL,"
    " UNIQUE(ledger_id, topic, entry_type, psp_reference, time));"
    "CREATE INDEX ledger_entries_date ON ledger_entries(ledger_id, topic, ledger_date, seq);"
    "CREATE INDEX operations_answered ON operations(answered_at);",
    /* 6: the print proxy's held jobs (the till's bytes as they came) */
    "CREATE TABLE proxy_jobs ("
    " id BIGSERIAL PRIMARY KEY, proxy TEXT NOT NULL, reference TEXT NOT NULL, amount BIGINT NOT NULL,"
    " job BYTEA NOT NULL, state TEXT NOT NULL DEFAULT 'held', outcome TEXT NOT NULL DEFAULT '',"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX proxy_jobs_held ON proxy_jobs(proxy, id) WHERE state = 'held';",
    /* 7: each payment's numbered event feed: feed_heads hands out the
     * numbers (one row per reference, taken under its row lock), so two
     * instances writing events of one payment at once never clash */
    "CREATE TABLE feed_heads (reference TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
    "CREATE TABLE feed_events ("
    " reference TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL DEFAULT '',"
    " message TEXT NOT NULL DEFAULT '', at_ms BIGINT NOT NULL, PRIMARY KEY (reference, seq));",
};

const kv_pg_schema kv_jpg_schema = { "journal", steps, (int)(sizeof steps / sizeof steps[0]) };
