/* test_reconcile_pg.c - the suite tests/test_reconcile.c with every journal in a
 * fresh database of a real PostgreSQL server (tests/lib/kvpg.h); prints
 * SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_reconcile.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_reconcile", kvt_suite_main);
}
