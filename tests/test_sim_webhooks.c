/*
 * test_sim_webhooks.c - the Webhooks API: register, list, delete; deliveries
 * signed per the documented HMAC scheme (verified with OpenSSL here) and
 * retried.
 * `kvitt sim` runs as a real child process, driven over real HTTP on
 * loopback (tests/lib/kvtsim.c). Expected values (paths, status codes, error
 * codes, states) come from ../shared/docs/vipps-api.md, cited at each test;
 * nothing is captured from the simulator's own output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sim/sim.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"

static kvts_sim g_sim;   /* the shared simulator of the suite (default options) */

static int setup(void **state) { (void)state; return kvts_suite_setup(&g_sim); }
static int teardown(void **state) { (void)state; kvts_suite_teardown(&g_sim); return 0; }

static char *b64(const unsigned char *d, size_t n)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)o, d, (int)n);
    return o;
}

/* The verification scheme of doc §7.3, written independently of the
 * simulator: contentHash, stringToSign, HMAC-SHA256, expected header. */
static void expected_signature(const char *secret, const char *path_query, const char *host,
                               const char *date, const char *body, char hash_out[64],
                               char sig_out[64])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, strlen(body), md);
    char *h = b64(md, sizeof md);
    snprintf(hash_out, 64, "%s", h);
    char sts[1024];
    snprintf(sts, sizeof sts, "POST\n%s\n%s;%s;%s", path_query, date, host, h);
    free(h);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)sts, strlen(sts), mac, &ml);
    char *s = b64(mac, ml);
    snprintf(sig_out, 64, "%s", s);
    free(s);
}

/* The doc's test vector checks the verifier used below (doc §7.3). */
static void test_sim__hmac_doc_vector(void **state)
{
    (void)state;
    char hash[64], sig[64];
    expected_signature("A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A==",
                       "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", "webhook.site",
                       "Thu, 30 Mar 2023 08:38:32 GMT",
                       "{\"some-unique-content\":\"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world\"}",
                       hash, sig);
    assert_string_equal(hash, "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4=");
    assert_string_equal(sig, "agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U=");
}

/* doc §7: register, list, delete; deliveries signed per §7.3, retried on
 * failure (§7.4), payload shape of §7.2. */
static void test_sim__webhooks(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_receiver rv;
    kvts_receiver_start(&rv, 2); /* the first two deliveries fail -> retried */
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char body[512], hookurl[256];
    snprintf(hookurl, sizeof hookurl, "http://127.0.0.1:%d/hooks/vipps?store=oslo", rv.port);
    snprintf(body, sizeof body,
             "{\"url\":\"%s\",\"events\":[\"epayments.payment.created.v1\",\"epayments.payment.authorized.v1\","
             "\"epayments.payment.captured.v1\"]}", hookurl);
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/webhooks/v1/webhooks", NULL, body);
    assert_int_equal(r.status, 201);
    char id[64], secret[256];
    snprintf(id, sizeof id, "%s", kvts_jstr(r.json, "id"));
    snprintf(secret, sizeof secret, "%s", kvts_jstr(r.json, "secret"));
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/webhooks/v1/webhooks", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "webhooks"), 0);
    assert_non_null(w);
    assert_string_equal(kvts_jstr(w, "id"), id);
    assert_string_equal(kvts_jstr(w, "url"), hookurl);
    kvts_resp_free(&r);
    /* unknown event name -> 400 */
    kvts_call(&r, U, &a, "POST", "/webhooks/v1/webhooks", NULL, "{\"url\":\"https://example.no\",\"events\":[\"nope\"]}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);

    kvts_create(U, &a, "OSL-hook-0001", 14900, 201);
    kvts_approve(&r, U, &a, "OSL-hook-0001");
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "OSL-hook-0001", "capture", "OSL-hook-0001-cap", 14900);
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    assert_int_equal(kvts_receiver_wait(&rv, 3, 8000), 3);
    const char *names[] = { "CREATED", "AUTHORIZED", "CAPTURED" };
    char hostport[64];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", rv.port);
    pthread_mutex_lock(&rv.mu);
    assert_int_equal(rv.seen, 5); /* 2 failed attempts + 3 deliveries */
    for (int i = 0; i < 3; i++) {
        kvts_received *x = &rv.rec[i];
        assert_string_equal(x->host, hostport);
        char hash[64], sig[64], want[200];
        expected_signature(secret, "/hooks/vipps?store=oslo", hostport, x->date, x->body, hash, sig);
        assert_string_equal(x->hash, hash);
        snprintf(want, sizeof want, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=%s", sig);
        assert_string_equal(x->auth, want);
        /* x-ms-date is RFC 1123 GMT */
        assert_non_null(strstr(x->date, " GMT"));
        cJSON *j = cJSON_Parse(x->body);
        assert_non_null(j);
        assert_string_equal(kvts_jstr(j, "msn"), "123456");
        assert_string_equal(kvts_jstr(j, "reference"), "OSL-hook-0001");
        assert_string_equal(kvts_jstr(j, "name"), names[i]); /* order kept per payment */
        assert_non_null(kvts_jstr(j, "pspReference"));
        assert_non_null(kvts_jstr(j, "timestamp"));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")));
        assert_int_equal((long)kvts_jnum(j, "amount.value"), 14900);
        cJSON_Delete(j);
    }
    pthread_mutex_unlock(&rv.mu);
    /* the delivery log: the first event took 3 attempts (2 x 500, then 200) */
    kvts_http(&r, U, "GET", "/sim/v1/webhooks/deliveries", NULL, NULL);
    assert_int_equal(r.status, 200);
    int seen_hook = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, r.json) {
        if (strcmp(kvts_jstr(d, "reference"), "OSL-hook-0001")) continue;
        assert_string_equal(kvts_jstr(d, "result"), "delivered");
        assert_string_equal(kvts_jstr(d, "kind"), "webhook");
        assert_int_equal((long)kvts_jnum(d, "attempts"), seen_hook == 0 ? 3 : 1);
        seen_hook++;
    }
    assert_int_equal(seen_hook, 3);
    kvts_resp_free(&r);
    /* delete -> 204, list is empty, no more deliveries */
    char p[128];
    snprintf(p, sizeof p, "/webhooks/v1/webhooks/%s", id);
    kvts_call(&r, U, &a, "DELETE", p, NULL, NULL);
    assert_int_equal(r.status, 204);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "DELETE", p, NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/webhooks/v1/webhooks", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "webhooks")), 0);
    kvts_resp_free(&r);
    kvts_receiver_stop(&rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__hmac_doc_vector),
        cmocka_unit_test(test_sim__webhooks),
    };
    return cmocka_run_group_tests_name("sim_webhooks", tests, setup, teardown);
}
