/* test_report_journal_pg.c - the suite tests/test_report_journal.c with
 * its journals in fresh databases of a real PostgreSQL server
 * (tests/lib/kvpg.h); prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_report_journal.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_report_journal", kvt_suite_main);
}
