/* sqlfile.c - see sqlfile.h. */
#include "src/util/sqlfile.h"
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static int attempt(sqlite3 *db, const char *pragmas, const char *schema, char **emsg)
{
    int rc = pragmas ? sqlite3_exec(db, pragmas, NULL, NULL, emsg) : SQLITE_OK;
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, emsg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema, NULL, NULL, emsg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, emsg);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int kv_sqlfile_setup(sqlite3 *db, const char *pragmas, const char *schema, int wait_ms, char **emsg)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned seed = (unsigned)getpid() ^ (unsigned)t0.tv_nsec;
    for (;;) {
        sqlite3_free(*emsg);
        *emsg = NULL;
        int rc = attempt(db, pragmas, schema, emsg);
        int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        if (!busy || ms_since(&t0) > wait_ms)
            return rc;
        usleep(2000 + rand_r(&seed) % 18000);
    }
}
