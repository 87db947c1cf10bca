/* test_proxy_pg.c - the suite tests/test_proxy.c with every journal in a
 * fresh database of a real PostgreSQL server (tests/lib/kvpg.h): the
 * proxy's held receipts, a crash while holding and the recovery on a
 * chain's journal.  Prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_proxy.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_proxy", kvt_suite_main);
}
