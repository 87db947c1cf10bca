/* test_flow_refund_pg.c - the flow refund suite (tests/test_flow_refund.c) with every journal
 * in a fresh database of a real PostgreSQL server (tests/lib/kvpg.h);
 * prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_flow_refund.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_flow_refund", kvt_suite_main);
}
