/* test_journal_pg.c - the whole journal suite (tests/test_journal.c) on a
 * real PostgreSQL server, plus what only a shared database has
 * (tests/journal_pg_cases.h): versioned migrations, a lost connection,
 * per-reference locks across processes.  Prints SKIP when PostgreSQL is
 * not installed. */
#define KVT_JOURNAL_PG 1
#include "test_journal.c"
