/* cmd_config.c - `kvitt config check`: load the configuration and the
 * secrets file, check every store, till, printer URI, path and permission,
 * and print what was found or each problem with its fix.  Reads only: it
 * opens no printer and calls no payment service. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/uri.h"
#include "escpos/profile.h"
#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/proxy/proxy.h"
#include "src/serve/serve.h"

static const char usage_text[] =
    "usage: kvitt config check [--config FILE] [--quiet]\n"
    "\n"
    "Load the configuration and its secrets file and check them: every store\n"
    "(MSN, currency, credentials present and filled in, refund pattern of its\n"
    "chain), every till and [proxy NAME], every printer URI and profile, the\n"
    "journal's folder and the secrets file's permissions.  Prints what it found,\n"
    "then each problem with its fix.  Nothing is printed on paper and no payment\n"
    "service is called.\n"
    "\n"
    "  --config FILE  the configuration (default: $KVITT_CONFIG, else\n"
    "                 /etc/kvitt/kvitt.conf)\n"
    "  --quiet        print only the problems\n"
    "  --help         this text\n"
    "\n"
    "exit codes: 0 no problem, 2 bad arguments, 3 a problem was found.\n";

typedef struct {
    int problems;
    int quiet;
} report;

/* One line on stdout; a control byte of a value from the file (an escape
 * sequence, a bell) is shown as '?' instead of acting on the terminal. */
static void line(const char *lead, const char *fmt, va_list ap)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    for (unsigned char *p = (unsigned char *)buf; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    printf("%s%s\n", lead, buf);
}

static void found(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void found(report *r, const char *fmt, ...)
{
    if (r->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    line("", fmt, ap);
    va_end(ap);
}

static void problem(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line("problem: ", fmt, ap);
    va_end(ap);
    r->problems++;
}

/* A value left as in the etc/ secrets examples: "<...>". */
static int placeholder(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    return n == 0 || (v[0] == '<' && v[n - 1] == '>');
}

static void check_printer(report *r, const char *where, const char *uri, const char *profile)
{
    if (!uri || !uri[0]) {
        problem(r, "%s: no printer; fix: printer = URI (`kvitt printers` lists USB printers)", where);
        return;
    }
    kv_uri u;
    char err[512] = "";
    if (kv_uri_parse(&u, uri, err, sizeof err) != 0) {
        problem(r, "%s: printer = %s: %s", where, uri, err);
        return;
    }
    if (profile && profile[0] && !kv_profile_find(profile))
        problem(r, "%s: profile = %s is not a known printer profile; fix: one of `kvitt profiles`",
                where, profile);
    struct stat sb;
    switch (u.kind) {
    case KV_URI_LP:
    case KV_URI_SERIAL:
        /* The device may be switched off now: a note, not a problem. */
        if (stat(u.path, &sb) != 0)
            found(r, "  note: %s is not there now (printer off or unplugged?)", u.path);
        else if (access(u.path, W_OK) != 0)
            problem(r, "%s: %s is not writable by this user; fix: add the user to the device's "
                    "group (ls -l %s; usermod -aG lp USER) or install the udev rules "
                    "(docs/shop-setup.md)", where, u.path, u.path);
        break;
    case KV_URI_VIRTUAL:
        if (stat(u.path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            problem(r, "%s: the virtual printer's folder %s does not exist; fix: mkdir -p %s",
                    where, u.path, u.path);
        else if (access(u.path, W_OK) != 0)
            problem(r, "%s: the virtual printer's folder %s is not writable", where, u.path);
        break;
    default:
        break;
    }
}

static void check_paths(report *r, const kv_config *cfg)
{
    const kv_config_main *m = kv_config_main_get(cfg);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", m->journal);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    struct stat sb;
    found(r, "journal: %s", m->journal);
    if (stat(m->journal, &sb) == 0 && S_ISDIR(sb.st_mode))
        problem(r, "journal = %s is a folder, not the journal's file; fix: journal = %s/journal.db",
                m->journal, m->journal);
    else if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        problem(r, "journal = %s: the folder %s does not exist; fix: install -d -m 0700 %s "
                "(owned by the user kvitt runs as)", m->journal, dir, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        problem(r, "journal = %s: this user cannot write in %s; fix: chown the folder to the user "
                "kvitt runs as", m->journal, dir);
    else if (stat(m->journal, &sb) == 0 && (sb.st_mode & 077))
        problem(r, "journal = %s is readable by others (mode %04o): it holds webhook secrets; "
                "fix: chmod 600 %s", m->journal, (unsigned)(sb.st_mode & 07777), m->journal);
    if (m->secrets[0]) {
        if (stat(m->secrets, &sb) == 0)
            found(r, "secrets: %s (mode %04o, only its owner can read it)", m->secrets,
                  (unsigned)(sb.st_mode & 07777));
        if (stat(m->secrets, &sb) == 0 && sb.st_uid != geteuid())
            found(r, "  note: the secrets file belongs to uid %u, not to this user (%u)",
                  (unsigned)sb.st_uid, (unsigned)geteuid());
    } else {
        found(r, "secrets: none ([kvitt] secrets is not set; credentials come from env: values)");
    }
}

static void check_credentials(report *r, const kv_store *s, const kv_credentials *cr)
{
    if (!cr) {
        problem(r, "[store %s]: no [credentials %s] in the secrets file; fix: add it (mode 0600)",
                s->id, s->credentials);
        return;
    }
    const char *keys[] = { "client_id", "client_secret", "subscription_key" };
    const char *vals[] = { cr->client_id, cr->client_secret, cr->subscription_key };
    for (int i = 0; i < 3; i++)
        if (placeholder(vals[i]))
            problem(r, "[credentials %s] %s is still the example's placeholder; fix: paste the "
                    "value from the merchant portal", cr->name, keys[i]);
}

/* The refund pattern a store is in (docs/chains.md): partner keys, one MSN
 * shared with a store listed before it, or its own credentials. */
static void pattern_of(char *out, size_t n, const kv_config *cfg, const kv_store *s)
{
    const kv_credentials *cr = kv_config_credentials(cfg, s);
    if (cr && cr->partner) {
        snprintf(out, n, "partner keys with the store's MSN");
        return;
    }
    for (size_t i = 0; i < kv_config_store_count(cfg); i++) {
        const kv_store *o = kv_config_store_at(cfg, i);
        if (o == s)
            break;
        if (strcmp(o->msn, s->msn) == 0) {
            snprintf(out, n, "one MSN with store %s (found by the reference prefix %s)", o->id,
                     s->reference_prefix);
            return;
        }
    }
    snprintf(out, n, "its own credentials");
}

static void check_stores(report *r, const kv_config *cfg)
{
    const kv_config_main *m = kv_config_main_get(cfg);
    size_t n = kv_config_store_count(cfg);
    if (n == 0)
        problem(r, "no [store ID] section; fix: add one per shop (etc/shop.conf shows how)");
    if (m->default_store[0] && !kv_config_store(cfg, m->default_store))
        problem(r, "[kvitt] default_store = %s: no [store %s]", m->default_store, m->default_store);
    for (size_t i = 0; i < n; i++) {
        const kv_store *s = kv_config_store_at(cfg, i);
        const kv_credentials *cr = kv_config_credentials(cfg, s);
        found(r, "store %s: %s, MSN %s, %s, language %s, references %s-..., credentials %s%s",
              s->id, s->name, s->msn, s->currency, s->language, s->reference_prefix,
              s->credentials, cr && cr->partner ? " (partner keys)" : "");
        char where[96];
        snprintf(where, sizeof where, "[store %s]", s->id);
        if (s->printer[0])
            found(r, "  printer %s, profile %s", s->printer, s->profile[0] ? s->profile : "generic-80");
        check_printer(r, where, s->printer, s->profile);
        /* a key set shared by stores is checked (and its problems
         * counted) once, at its first store */
        size_t first = 0;
        while (first < i && strcmp(kv_config_store_at(cfg, first)->credentials, s->credentials) != 0)
            first++;
        if (first == i)
            check_credentials(r, s, cr);
        if (s->chain[0]) {
            char pat[160];
            pattern_of(pat, sizeof pat, cfg, s);
            found(r, "  chain %s: its purchases are refunded with %s", s->chain, pat);
        }
        for (size_t j = 0; j < i; j++) {
            const kv_store *o = kv_config_store_at(cfg, j);
            if (strcmp(o->reference_prefix, s->reference_prefix) == 0)
                problem(r, "[store %s] and [store %s] have the same reference_prefix %s: a refund "
                        "could not tell them apart; fix: give each store its own prefix",
                        o->id, s->id, s->reference_prefix);
            if (strcmp(o->msn, s->msn) == 0 && strcmp(o->credentials, s->credentials) != 0)
                problem(r, "[store %s] and [store %s] share MSN %s but not their credentials; fix: "
                        "one MSN means one set of keys (credentials = %s in both)",
                        o->id, s->id, s->msn, o->credentials);
            if (strcmp(o->msn, s->msn) == 0 && strcmp(o->chain, s->chain) != 0)
                problem(r, "[store %s] and [store %s] share MSN %s but are not in one chain; fix: "
                        "chain = the same name in both", o->id, s->id, s->msn);
        }
    }
}

static void check_tills(report *r, const kv_config *cfg)
{
    int tills = 0, serve = 0;
    const char *sec;
    for (size_t i = 0; (sec = kv_config_section_at(cfg, i)) != NULL; i++) {
        if (strcmp(sec, "serve") == 0)
            serve = 1;
        if (strncmp(sec, "till ", 5) != 0)
            continue;
        tills++;
        const char *store = kv_config_get(cfg, sec, "store");
        const char *printer = kv_config_get(cfg, sec, "printer");
        const char *chain = kv_config_get(cfg, sec, "chain_refund");
        found(r, "till %s: store %s%s%s%s", sec + 5, store ? store : "?", printer ? ", printer " : "",
              printer ? printer : "", chain && strcmp(chain, "true") == 0 ? ", may refund for the chain" : "");
        /* etc/shop.conf and etc/chain.conf ship token_sha256 values that
         * match no token: N9799261...20c3, N = 1, 2, 3.  Left in, the till
         * gets 401; the configuration itself is fine, so it is a note. */
        static const char example_tail[] = "9799261f2ba5f227279fea29056dd6e4ac11175ac97cb03ea37851ccde220c3";
        const char *hash = kv_config_get(cfg, sec, "token_sha256");
        if (hash && strlen(hash) == 64 && strcmp(hash + 1, example_tail) == 0)
            found(r, "  note: [%s] token_sha256 is still the example's and matches no token; fix: make the "
                  "till's token and its hash (docs/shop-setup.md, 6)", sec);
        if (printer) {
            char where[96];
            snprintf(where, sizeof where, "[%s]", sec);
            const kv_store *s = store ? kv_config_store(cfg, store) : NULL;
            check_printer(r, where, printer, s ? s->profile : NULL);
        }
    }
    if (tills == 0 && !serve) {
        found(r, "tills: none (no [till ID]: `kvitt serve` is not set up; `kvitt pay` works)");
        return;
    }
    char err[1024] = "";
    if (kv_serve_check_config(cfg, err, sizeof err) != KV_SERVE_OK)
        problem(r, "%s", err);
}

/* [proxy NAME] sections (docs/proxy.md): read as `kvitt proxy NAME` reads
 * them (no port is opened), and the real printer's URI checked. */
static void check_proxies(report *r, const kv_config *cfg)
{
    const char *sec;
    for (size_t i = 0; (sec = kv_config_section_at(cfg, i)) != NULL; i++) {
        if (strncmp(sec, "proxy ", 6) != 0)
            continue;
        const char *listen = kv_config_get(cfg, sec, "listen");
        const char *printer = kv_config_get(cfg, sec, "printer");
        const char *store = kv_config_get(cfg, sec, "store");
        found(r, "proxy %s: listen %s, printer %s, store %s", sec + 6, listen ? listen : "?",
              printer ? printer : "the store's", store ? store : "the default");
        char err[1024] = "";
        kv_proxy *px = NULL;
        if (kv_proxy_create(&px, cfg, sec + 6, NULL, err, sizeof err) != KV_PROXY_OK)
            problem(r, "%s", err);
        kv_proxy_destroy(px);
        if (printer) {
            char where[96];
            snprintf(where, sizeof where, "[%s]", sec);
            const kv_store *s = kv_config_store(cfg, store);
            check_printer(r, where, printer, s ? s->profile : NULL);
        }
    }
}

static int run_check(const char *path, int quiet)
{
    report r = { 0, quiet };
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 002))
        problem(&r, "%s can be changed by every user (mode %04o); fix: chmod 644 %s", path,
                (unsigned)(sb.st_mode & 07777), path);
    kv_config *cfg = NULL;
    char err[1024] = "";
    if (kv_config_load(&cfg, path, err, sizeof err) != KV_C_OK) {
        problem(&r, "%s", err);
        found(&(report){ 0, 0 }, "%s: the configuration cannot be loaded; fix the problem above and run "
              "`kvitt config check` again", path);
        return KV_EXIT_CONFIG;
    }
    const kv_config_main *m = kv_config_main_get(cfg);
    found(&r, "configuration: %s", path);
    if (strcmp(m->environment, m->base_url) == 0)
        found(&r, "environment: %s", m->environment);
    else
        found(&r, "environment: %s (%s)", m->environment, m->base_url);
    check_paths(&r, cfg);
    check_stores(&r, cfg);
    check_tills(&r, cfg);
    check_proxies(&r, cfg);
    kv_config_free(cfg);
    if (r.problems) {
        found(&(report){ 0, 0 }, "%d problem%s found in %s", r.problems, r.problems == 1 ? "" : "s", path);
        return KV_EXIT_CONFIG;
    }
    found(&r, "no problem found");
    return KV_EXIT_OK;
}

int kv_cmd_config(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    int quiet = cli->quiet, c;
    optind = 0; /* full getopt re-initialisation: options may follow the verb */
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'h': fputs(usage_text, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("config", argc, argv);
        }
    }
    if (optind >= argc)
        return kv_usage_error("config", "say what to do: kvitt config check");
    if (strcmp(argv[optind], "check") != 0)
        return kv_usage_error("config", "'%s' is not a config action; the one there is: check",
                              argv[optind]);
    if (optind + 1 < argc)
        return kv_usage_error("config", "unexpected argument '%s'", argv[optind + 1]);
    return run_check(kv_config_default_path(cli->config_path), quiet);
}
