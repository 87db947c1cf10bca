/* test_flow_pay_pg.c - the flow pay suite (tests/test_flow_pay.c) with every journal
 * in a fresh database of a real PostgreSQL server (tests/lib/kvpg.h);
 * prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_flow_pay.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_flow_pay", kvt_suite_main);
}
