/* fuzz-sources: sim */
/*
 * fuzz_sim_request.c - libFuzzer target over the simulator's request
 * handling (routing, authentication, JSON validation of every endpoint,
 * idempotency, state changes), called directly without a socket.
 *
 * Input: byte 0 selects the method and whether valid credentials are sent,
 * byte 1 the Idempotency-Key / X-Request-Id (one of four, so replays and
 * conflicts happen), byte 2 the Accept header; then the path up to the
 * first '\n', then the body.  One simulator lives for the whole run (its
 * state grows like a real one); it never sends webhooks (no_delivery).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kv_sim *g_sim;
static char g_auth[4200];

static void setup(void)
{
    kv_sim_options o;
    kv_sim_options_init(&o);
    o.quiet = 1;
    o.no_delivery = 1;
    o.webhook_max_attempts = 1;
    o.rate_get_per_min = 0;
    o.rate_mod_per_min = 0;
    if (kv_sim_start(&g_sim, &o) != KV_SIM_OK) abort();
    size_t n;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    const char *h[] = { "client_id", c[0].client_id, "client_secret", c[0].client_secret,
                        "Ocp-Apim-Subscription-Key", c[0].subscription_key, NULL };
    sim_req rq = { "POST", "/accesstoken/get", "", 0, NULL, h };
    sim_resp r;
    memset(&r, 0, sizeof r);
    sim_handle(g_sim, &rq, &r);
    cJSON *j = r.body ? cJSON_Parse(r.body) : NULL;
    const cJSON *t = j ? cJSON_GetObjectItem(j, "access_token") : NULL;
    if (!cJSON_IsString(t)) abort();
    snprintf(g_auth, sizeof g_auth, "Bearer %s", t->valuestring);
    cJSON_Delete(j);
    free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_sim) setup();
    if (size < 3) return 0;
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
    static const char *const keys[] = { "k0", "k1", "k2", "a-much-longer-key-0123456789-0123456789-0123456789-x" };
    static const char *const accepts[] = { "text/targetUrl", "image/png", "image/svg+xml", "text/plain" };
    const char *method = methods[data[0] & 3];
    int authed = !(data[0] & 4);
    const char *key = keys[data[1] & 3];
    const char *accept = accepts[data[2] & 3];
    const char *rest = (const char *)data + 3;
    size_t n = size - 3;
    const char *nl = memchr(rest, '\n', n);
    size_t plen = nl ? (size_t)(nl - rest) : n;
    char *path = malloc(plen + 2);
    char *body = malloc(n - plen + 1);
    if (!path || !body) { free(path); free(body); return 0; }
    path[0] = '/';
    memcpy(path + 1, rest, plen);
    path[plen + 1] = 0;
    size_t blen = nl ? n - plen - 1 : 0;
    if (blen) memcpy(body, nl + 1, blen);
    body[blen] = 0;
    size_t nc;
    const kv_sim_cred *c = kv_sim_credentials(&nc);
    const char *h[] = { "Authorization", g_auth, "Ocp-Apim-Subscription-Key", c[0].subscription_key,
                        "Merchant-Serial-Number", c[0].msn, "Idempotency-Key", key,
                        "X-Request-Id", key, "Accept", accept, "Size", "300", NULL };
    const char *none[] = { NULL };
    /* strlen(body) so embedded NULs end the body as they would in JSON */
    sim_req rq = { method, path, body, strlen(body), NULL, authed ? h : none };
    sim_resp r;
    memset(&r, 0, sizeof r);
    sim_handle(g_sim, &rq, &r);
    free(r.body);
    free(path);
    free(body);
    return 0;
}
