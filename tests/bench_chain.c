/* bench_chain.c - `kvitt serve` on a PostgreSQL journal beside the SQLite
 * one, in the same run: tests/bench_serve (KVITT_BENCH_TILLS tills, the
 * simulator at 20 ms) once on SQLite and once on a fresh database of a real
 * PostgreSQL server (tests/lib/kvpg.c), and a third time with three
 * daemons on one fresh PostgreSQL database behind HAProxy (the tills and
 * webhooks go through the balancer), each printing payments/s, slip
 * p50/p99, CPU, and journal commits per payment.  The three-daemon run
 * then prints the takeover time after kill -9 of an owner of 20 waiting
 * payments (median and max from the kill to each orphan's takeover).
 * Figures only; prints SKIP without PostgreSQL, and skips the
 * three-daemon run without HAProxy.  KVITT_BENCH_SECONDS defaults to 20
 * here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/kvhaproxy.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtest.h"

static int run_bench(const char *bench, const char *label, const char *journal, int daemons, int n)
{
    printf("-- %s\n", label);
    /* each run its own scratch folder (printers' job folders) */
    char *tmp = kvt_path("%s/run-%d", kvt_tmpdir(), n);
    mkdir(tmp, 0755);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (journal)
            setenv("KVITT_BENCH_JOURNAL", journal, 1);
        else
            unsetenv("KVITT_BENCH_JOURNAL");
        char nd[16];
        snprintf(nd, sizeof nd, "%d", daemons);
        setenv("KVITT_BENCH_DAEMONS", nd, 1);
        setenv("KVITT_TMP", tmp, 1);
        if (chdir(tmp) != 0)
            _exit(127);
        if (!getenv("KVITT_BENCH_SECONDS"))
            setenv("KVITT_BENCH_SECONDS", "20", 1);
        execl(bench, bench, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    free(tmp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(void)
{
    const char *bin = getenv("KVITT_BIN");
    if (!bin) {
        fprintf(stderr, "bench_chain: KVITT_BIN is not set (run through tests/bench.sh)\n");
        return 1;
    }
    char *bench = kvt_path("%.*s/tests/bench_serve", (int)(strrchr(bin, '/') - bin), bin);
    if (access(bench, X_OK) != 0) {
        fprintf(stderr, "bench_chain: %s is not built\n", bench);
        return 1;
    }
    char why[512] = "";
    kvpg *pg = kvpg_start(why, sizeof why);
    if (!pg) {
        printf("SKIP: bench_chain: %s\n", why);
        return 0;
    }
    int rc = run_bench(bench, "1 daemon, SQLite journal", NULL, 1, 1);
    char *dsn = kvpg_database(pg, "bench_one");
    if (dsn)
        rc |= run_bench(bench, "1 daemon, PostgreSQL journal (same machine, Unix socket)", dsn, 1, 2);
    free(dsn);
    if (access(KVT_HAPROXY, X_OK) != 0) {
        printf("SKIP: bench_chain: 3 daemons: HAProxy is not installed (%s)\n", KVT_HAPROXY);
    } else if ((dsn = kvpg_database(pg, "bench_three"))) {
        rc |= run_bench(bench, "3 daemons behind HAProxy, one PostgreSQL journal", dsn, 3, 3);
        free(dsn);
    }
    kvpg_stop(pg);
    free(bench);
    return rc;
}
