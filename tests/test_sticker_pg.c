/* test_sticker_pg.c - the sticker suite (tests/test_sticker.c) with every
 * journal in a fresh database of a real PostgreSQL server
 * (tests/lib/kvpg.h); prints SKIP when PostgreSQL is not installed. */
#include "tests/lib/kvpg.h"
#define main kvt_suite_main
#include "test_sticker.c"
#undef main

int main(void)
{
    return kvpg_run_suite("test_sticker", kvt_suite_main);
}
