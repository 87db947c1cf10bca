/* kvpg.c - a throwaway PostgreSQL server on a Unix socket for the suites. */
#include "tests/lib/kvpg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

struct kvpg {
    char bindir[256];
    char dir[64];          /* /tmp/kvpg-XXXXXX: data/, the socket, log */
    char admin[256];
    uid_t uid;
    gid_t gid;
    int drop;              /* 1: run the server as uid/gid (we are root) */
    pid_t pid;
};

/* Fork and exec argv as the server's user; stdout/stderr to logpath.
 * wait = 1: wait and return the exit status; else return the pid. */
static int run_as(kvpg *pg, const char *const argv[], const char *logpath, int wait)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        setsid(); /* its own process group, apart from the test's */
        if (pg->drop && (setgroups(0, NULL) || setgid(pg->gid) || setuid(pg->uid)))
            _exit(126);
        setenv("LC_ALL", "C", 1);
        unsetenv("PGDATA");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (!wait)
        return pid;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int wait_ready(kvpg *pg, int timeout_s)
{
    for (int i = 0; i < timeout_s * 20; i++) {
        if (PQping(pg->admin) == PQPING_OK)
            return 0;
        int st;
        if (waitpid(pg->pid, &st, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return -1;
        }
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int launch(kvpg *pg)
{
    char bin[300], data[128], log[128];
    snprintf(bin, sizeof bin, "%s/postgres", pg->bindir);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    const char *argv[] = { bin, "-D", data, "-k", pg->dir, "-c", "listen_addresses=",
                           "-c", "max_connections=200", "-c", "shared_buffers=32MB", NULL };
    int pid = run_as(pg, argv, log, 0);
    if (pid <= 0)
        return -1;
    pg->pid = pid;
    return wait_ready(pg, 60);
}

kvpg *kvpg_start(char *why, size_t len)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        snprintf(why, len, "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; "
                 "apt-get install postgresql)");
        return NULL;
    }
    kvpg *pg = calloc(1, sizeof *pg);
    if (!pg) {
        globfree(&g);
        return NULL;
    }
    const char *last = g.gl_pathv[g.gl_pathc - 1];
    snprintf(pg->bindir, sizeof pg->bindir, "%.*s", (int)(strrchr(last, '/') - last), last);
    globfree(&g);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/kvpg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        snprintf(why, len, "mkdtemp: %s", strerror(errno));
        free(pg);
        return NULL;
    }
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            snprintf(why, len, "running as root and there is no postgres user to run the server as");
            rmdir(pg->dir);
            free(pg);
            return NULL;
        }
        pg->uid = pw->pw_uid;
        pg->gid = pw->pw_gid;
        pg->drop = 1;
        if (chown(pg->dir, pg->uid, pg->gid) != 0) {
            snprintf(why, len, "chown %s: %s", pg->dir, strerror(errno));
            rmdir(pg->dir);
            free(pg);
            return NULL;
        }
    }
    snprintf(pg->admin, sizeof pg->admin, "postgresql://postgres@/postgres?host=%s", pg->dir);
    char bin[300], data[128], log[128];
    snprintf(bin, sizeof bin, "%s/initdb", pg->bindir);
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/initdb.log", pg->dir);
    const char *argv[] = { bin, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                           "--no-sync", "--no-instructions", NULL };
    int rc = run_as(pg, argv, log, 1);
    if (rc != 0) {
        snprintf(why, len, "initdb failed (exit %d); see %s", rc, log);
        free(pg);
        return NULL;
    }
    if (launch(pg) != 0) {
        snprintf(why, len, "postgres did not start; see %s/postgres.log", pg->dir);
        kvpg_stop(pg);
        return NULL;
    }
    return pg;
}

const char *kvpg_admin_dsn(kvpg *pg)
{
    return pg->admin;
}

pid_t kvpg_pid(kvpg *pg)
{
    return pg->pid;
}

int kvpg_sql(kvpg *pg, const char *name, const char *sql)
{
    char dsn[300];
    snprintf(dsn, sizeof dsn, "postgresql://postgres@/%s?host=%s", name, pg->dir);
    PGconn *c = PQconnectdb(dsn);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            fprintf(stderr, "kvpg: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "kvpg: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

char *kvpg_database(kvpg *pg, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    if (kvpg_sql(pg, "postgres", sql))
        return NULL;
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", name);
    if (kvpg_sql(pg, "postgres", sql))
        return NULL;
    char *dsn = NULL;
    if (asprintf(&dsn, "postgresql://postgres@/%s?host=%s", name, pg->dir) < 0)
        return NULL;
    return dsn;
}

/* SIGKILL to every child of the postmaster: each backend is a session of
 * its own (PostgreSQL's setsid), so killing the postmaster's group leaves
 * them running until they notice, and a connection could still answer a
 * query "after the crash".  Returns how many were signalled. */
static int kill_children(pid_t parent)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        const char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent) {
            kill((pid_t)pid, SIGKILL);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void halt(kvpg *pg, int sig)
{
    if (pg->pid <= 0)
        return;
    if (sig == SIGKILL)
        kill_children(pg->pid); /* a crash takes the backends down at once too */
    kill(sig == SIGKILL ? -pg->pid : pg->pid, sig);
    int st;
    for (int i = 0; i < 600; i++) {
        if (waitpid(pg->pid, &st, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return;
        }
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(pg->pid, SIGKILL);
    waitpid(pg->pid, &st, 0);
    pg->pid = 0;
}

void kvpg_crash(kvpg *pg)
{
    halt(pg, SIGKILL);
}

int kvpg_restart(kvpg *pg, int fast)
{
    halt(pg, fast ? SIGINT : SIGKILL);
    if (!fast) {
        /* the postmaster's children outlive a SIGKILL of the postmaster
         * for a moment; the new one refuses to start while they hold the
         * shared memory, so retry */
        for (int i = 0; i < 20; i++) {
            if (launch(pg) == 0)
                return 0;
            sleep(1);
        }
        return -1;
    }
    return launch(pg);
}

void kvpg_stop(kvpg *pg)
{
    if (!pg)
        return;
    halt(pg, SIGINT);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "kvpg: could not remove %s\n", pg->dir);
    free(pg);
}

/* ---- the end-to-end suites on PostgreSQL ---- */

/* One server per test process (a test helper; the library has no globals). */
static kvpg *g_suite_pg;
static pid_t g_suite_owner;

static void suite_pg_stop(void)
{
    if (g_suite_pg && getpid() == g_suite_owner)
        kvpg_stop(g_suite_pg);
    g_suite_pg = NULL;
}

static kvpg *suite_pg(char *why, size_t len)
{
    if (!g_suite_pg) {
        g_suite_pg = kvpg_start(why, len);
        if (g_suite_pg) {
            g_suite_owner = getpid();
            atexit(suite_pg_stop);
        }
    }
    return g_suite_pg;
}

kvpg *kvpg_test_server(void)
{
    return g_suite_pg;
}

char *kvpg_test_journal(const char *name)
{
    const char *mode = getenv("KVITT_TEST_JOURNAL");
    if (!mode || strcmp(mode, "pg") != 0)
        return NULL;
    char why[512] = "";
    kvpg *pg = suite_pg(why, sizeof why);
    if (!pg) {
        fprintf(stderr, "kvpg: %s\n", why);
        abort();
    }
    /* a database name from the fixture name: [a-z0-9_], at most 60 */
    char db[64];
    size_t n = 0;
    for (const char *c = name; *c && n < 60; c++)
        db[n++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32)
                : ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')) ? *c : '_';
    db[n] = '\0';
    return kvpg_database(pg, n ? db : "kvitt");
}

int kvpg_run_suite(const char *suite, int (*suite_main)(void))
{
    setenv("KVITT_TEST_JOURNAL", "pg", 1);
    char why[512] = "";
    if (!suite_pg(why, sizeof why)) {
        printf("SKIP: %s on PostgreSQL: %s\n", suite, why);
        return 0;
    }
    int rc = suite_main();
    suite_pg_stop();
    return rc;
}
