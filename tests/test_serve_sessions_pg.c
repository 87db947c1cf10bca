/* test_serve_sessions_pg.c - the sessions suite (tests/test_serve_sessions.c)
 * on a real PostgreSQL server (tests/lib/kvpg.h), with its cases of two
 * daemons on one database; prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_serve_sessions.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_serve_sessions", kvt_suite_main);
}
