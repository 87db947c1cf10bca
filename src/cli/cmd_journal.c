/* cmd_journal.c - `kvitt journal migrate|upgrade`: move a shop's SQLite
 * journal into a chain's PostgreSQL journal; apply schema migrations. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/journal/journal_migrate.h"
#include "src/journal/pgconn.h"
#include "src/serve/sdb.h"
#include "src/serve/session.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvitt journal migrate --to DSN|env:VAR [--from FILE] [--quiet]\n"
            "       kvitt journal upgrade [--dsn DSN|env:VAR]\n\n"
            "migrate: copy a SQLite journal (--from, default the configured journal) into\n"
            "  a PostgreSQL journal (--to postgresql://...; env:VAR reads the DSN from the\n"
            "  environment so a password stays out of the shell history).  Every table is\n"
            "  copied in batches; a run that stops resumes where it stopped, and a second\n"
            "  run copies nothing twice.  The copy is verified by row counts and by the\n"
            "  sums of amounts, captured and refunded.  The file is only read.\n"
            "upgrade: apply the PostgreSQL journal's schema migrations (--dsn, default the\n"
            "  configured journal); run it as the database owner when the daemons' role\n"
            "  may not create tables.\n\n"
            "  --to DSN        the PostgreSQL journal to copy into\n"
            "  --from FILE     the SQLite journal to copy (default: [kvitt] journal)\n"
            "  --dsn DSN       the PostgreSQL journal to upgrade (default: [kvitt] journal)\n"
            "  --quiet         no progress lines\n"
            "  --config FILE   configuration\n");
}

/* A DSN argument: env:VAR read from the environment. */
static const char *dsn_arg(const char *v)
{
    return v && strncmp(v, "env:", 4) == 0 ? getenv(v + 4) : v;
}

static void progress(const char *table, int64_t done, int64_t total, void *user)
{
    (void)user;
    fprintf(stderr, "kvitt journal: %s: up to row %lld of %lld\n", table, (long long)done, (long long)total);
}

static int exit_for(kv_journal_status st)
{
    switch (st) {
    case KV_J_OK: return KV_EXIT_OK;
    case KV_J_E_ARG: return KV_EXIT_USAGE;
    case KV_J_E_OPEN: return KV_EXIT_CONFIG;
    case KV_J_E_CONN: return KV_EXIT_SERVICE;
    default: return KV_EXIT_NOT_PAID; /* a check failed */
    }
}

/* Open the journal and the daemon's tables on dsn: applies their schemas. */
static kv_journal_status prepare(const char *dsn, char *err, size_t errlen)
{
    kv_journal *j = NULL;
    kv_journal_status st = kv_journal_open(&j, dsn, err, errlen);
    if (st)
        return st;
    kv_journal_close(j);
    kv_sdb *db = NULL;
    if (kv_sdb_open(&db, dsn, err, errlen) != KV_SDB_OK)
        return KV_J_E_OPEN;
    kv_sdb_close(db);
    kv_session *ss = NULL; /* the cashier page's sessions (component "session") */
    if (kv_session_open(&ss, dsn, err, errlen) != KV_SESSION_OK)
        return KV_J_E_OPEN;
    kv_session_close(ss);
    return KV_J_OK;
}

static int migrate(const char *from, const char *to, int quiet)
{
    char err[1024] = "";
    kv_journal_status st = prepare(to, err, sizeof err);
    kv_migrate_report rep;
    if (st == KV_J_OK)
        st = kv_journal_migrate(from, to, &rep, quiet ? NULL : progress, NULL, err, sizeof err);
    if (st == KV_J_OK || st == KV_J_E_SQL) {
        for (int i = 0; i < rep.ntables; i++)
            printf("%-15s %8lld rows in the file, %8lld copied now, %8lld in the database\n",
                   rep.tables[i].name, (long long)rep.tables[i].source_rows, (long long)rep.tables[i].copied,
                   (long long)rep.tables[i].marked);
        static const char *const what[4] = { "payments.amount", "payments.captured", "payments.refunded",
                                             "operations.amount" };
        for (int i = 0; i < 4; i++)
            printf("%-18s file %lld, database %lld\n", what[i], (long long)rep.sums_source[i],
                   (long long)rep.sums_target[i]);
    }
    if (st == KV_J_OK) {
        printf("verified: counts and sums agree\n");
        return KV_EXIT_OK;
    }
    kv_err("journal", "migrate: %s", err[0] ? err : kv_journal_strerror(st));
    return exit_for(st);
}

int kv_cmd_journal(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "to", required_argument, NULL, 't' },
        { "from", required_argument, NULL, 'f' },
        { "dsn", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *config = cli->config_path, *to = NULL, *from = NULL, *dsn = NULL;
    int quiet = 0, c;
    optind = 0; /* options may follow the verb */
    while ((c = getopt_long(argc, argv, "t:f:d:qc:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'f': from = optarg; break;
        case 'd': dsn = optarg; break;
        case 'q': quiet = 1; break;
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("journal", argc, argv);
        }
    }
    if (optind >= argc)
        return kv_usage_error("journal", "say migrate or upgrade");
    const char *verb = argv[optind];
    if (optind + 1 < argc)
        return kv_usage_error("journal", "unexpected argument '%s'", argv[optind + 1]);
    int mig = !strcmp(verb, "migrate"), up = !strcmp(verb, "upgrade");
    if (!mig && !up)
        return kv_usage_error("journal", "'%s' is not migrate or upgrade", verb);
    if (mig && !to)
        return kv_usage_error("journal", "migrate needs --to postgresql://... (or env:VAR)");
    const char *target = dsn_arg(mig ? to : dsn);
    if ((mig || dsn) && (!target || !kv_pg_is_dsn(target)))
        return kv_usage_error("journal", "--%s: not a PostgreSQL DSN%s; fix: postgresql://user@host/db",
                              mig ? "to" : "dsn", (mig ? to : dsn)[0] == 'e' ? " (is the variable set?)" : "");
    char jpath[1024] = "";
    if ((mig && !from) || (up && !dsn)) {
        char err[1024] = "";
        kv_config *cfg = NULL;
        if (kv_config_load(&cfg, kv_config_default_path(config), err, sizeof err) != KV_C_OK) {
            kv_err("journal", "%s", err);
            return KV_EXIT_CONFIG;
        }
        snprintf(jpath, sizeof jpath, "%s", kv_config_main_get(cfg)->journal);
        kv_config_free(cfg);
    }
    if (mig) {
        const char *src = from ? from : jpath;
        if (kv_pg_is_dsn(src))
            return kv_usage_error("journal", "the configured journal is already PostgreSQL; fix: --from FILE");
        return migrate(src, target, quiet);
    }
    if (!dsn)
        target = jpath;
    if (!kv_pg_is_dsn(target))
        return kv_usage_error("journal", "upgrade is for a PostgreSQL journal; a SQLite journal "
                              "upgrades itself when opened");
    char err[1024] = "";
    int v0 = 0, v1 = 0;
    kv_journal_status st = kv_journal_upgrade(target, &v0, &v1, err, sizeof err);
    if (st == KV_J_OK)
        st = prepare(target, err, sizeof err);
    if (st) {
        kv_err("journal", "upgrade: %s", err[0] ? err : kv_journal_strerror(st));
        return exit_for(st);
    }
    if (v0 == v1)
        printf("journal schema: version %d, current\n", v1);
    else
        printf("journal schema: version %d -> %d\n", v0, v1);
    printf("serve tables: current\n");
    return KV_EXIT_OK;
}
