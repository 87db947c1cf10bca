/* fuzz-sources: src/util src/serve src/flow src/vipps src/config src/journal src/doc src/printer src/vprinter sim escpos drivers */
/*
 * fuzz_serve_request.c - libFuzzer target over the daemon's request
 * handling: routing, till authentication, the query checks and parsers
 * (since, limit, after, wait, refresh), the strict JSON check and every
 * body parser (create, refund, cancel, reprint), idempotency keys, the
 * webhook and callback endpoints.  Requests are fed to the real handler
 * in memory through kv_http_inject() (no socket per request).
 *
 * The daemon runs for the whole process on a configuration written by the
 * simulator's config writer, pointed at a closed loopback port
 * (127.0.0.1:9) with a short time budget: a create that gets through every
 * check is journaled and fails fast as "service unreachable" instead of
 * moving money.  Its files live in a fresh folder under /dev/shm (or /tmp).
 *
 * Input: byte 0 picks the method (bits 0-1) and the bearer token (bits 2-3:
 * till t-oslo, till t-bergen with chain_refund, none, garbage); byte 1 the
 * Idempotency-Key (one of four, so replays and conflicts happen); then the
 * path with an optional ?query up to the first '\n', then the body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sim/sim.h"
#include "src/config/config.h"
#include "src/serve/auth.h"
#include "src/serve/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kv_serve *g_serve;
static kv_config *g_cfg;
static char g_dir[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

/* The daemon's scratch folder goes when the run ends (the daemon itself
 * keeps running until the process exits, like the simulator's target). */
static void cleanup(void)
{
    if (g_dir[0])
        nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define TOK_OSLO "fuzz-oslo-token-0123456789abcdef"
#define TOK_BERGEN "fuzz-bergen-token-0123456789abcdef"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) abort();
    char *buf = calloc(1, 1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (!n) abort();
    return buf;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[] = "/dev/shm/kvfuzz-serve.XXXXXX";
    char dir2[] = "/tmp/kvfuzz-serve.XXXXXX";
    char *d = mkdtemp(dir);
    if (!d) d = mkdtemp(dir2);
    if (!d) abort();
    snprintf(g_dir, sizeof g_dir, "%s", d);
    atexit(cleanup);
    char conf[256];
    snprintf(conf, sizeof conf, "%s/kvitt.conf", d);
    if (kv_sim_write_config_url("http://127.0.0.1:9", conf) != KV_SIM_OK) abort();
    char *text = slurp(conf);
    char h1[65], h2[65];
    kv_auth_hash_token(h1, TOK_OSLO);
    kv_auth_hash_token(h2, TOK_BERGEN);
    FILE *f = fopen(conf, "w");
    if (!f) abort();
    /* A short budget: the closed port answers at once, no retry waits. */
    char *p;
    if ((p = strstr(text, "total_timeout_ms = 30000"))) memcpy(p, "total_timeout_ms = 00200", 24);
    if ((p = strstr(text, "connect_timeout_ms = 3000"))) memcpy(p, "connect_timeout_ms = 0200", 25);
    fprintf(f, "%s\n[serve]\nlisten = 127.0.0.1:0\nevents_max_wait_s = 1\nmax_body = 8192\n"
            "callback_auth_token = cb-token-0123456789\n"
            "webhook_url = http://127.0.0.1:1/webhooks/vipps\n\n"
            "[till t-oslo]\nstore = oslo\ntoken_sha256 = %s\n\n"
            "[till t-bergen]\nstore = bergen\ntoken_sha256 = %s\nchain_refund = true\n",
            text, h1, h2);
    fclose(f);
    free(text);
    char err[1024];
    if (kv_config_load(&g_cfg, conf, err, sizeof err) != KV_C_OK) {
        fprintf(stderr, "fuzz_serve_request: config: %s\n", err);
        abort();
    }
    kv_serve_options o = KV_SERVE_OPTIONS_INIT;
    o.config = g_cfg;
    o.no_recover = 1;
    o.log_fd = open("/dev/null", 1);
    if (kv_serve_open(&g_serve, &o, err, sizeof err) != KV_SERVE_OK) {
        fprintf(stderr, "fuzz_serve_request: serve: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_serve) setup();
    if (size < 2) return 0;
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
    static const char *const auths[] = { "Bearer " TOK_OSLO, "Bearer " TOK_BERGEN, NULL,
                                         "Bearer \x01garbage" };
    static const char *const keys[] = { "k0", "k1", "key-2", "a-much-longer-key-0123456789-0123456789-x" };
    const char *method = methods[data[0] & 3];
    const char *auth = auths[(data[0] >> 2) & 3];
    const char *key = keys[data[1] & 3];
    const char *rest = (const char *)data + 2;
    size_t n = size - 2;
    const char *nl = memchr(rest, '\n', n);
    size_t plen = nl ? (size_t)(nl - rest) : n;
    char *line = malloc(plen + 2);
    if (!line) return 0;
    line[0] = '/';
    memcpy(line + 1, rest, plen);
    line[plen + 1] = '\0';   /* a NUL inside ends the path, as on the wire */
    char *q = strchr(line, '?');
    if (q) *q++ = '\0';
    const char *body = nl ? nl + 1 : "";
    size_t blen = nl ? n - plen - 1 : 0;
    const char *h[] = { "Authorization", auth, "Idempotency-Key", key,
                        "Content-Type", "application/json", NULL };
    if (!auth) h[0] = "X-None";
    if (!auth) h[1] = "";
    char *out = NULL;
    int st = kv_http_inject(g_serve->http, method, line, q, h, body, blen, &out);
    if (st < 200 || st > 599) abort();    /* every request gets a real answer */
    if (st == 500 && out && strstr(out, "not answered")) abort();
    free(out);
    free(line);
    return 0;
}
