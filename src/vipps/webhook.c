/*
 * webhook.c - Webhooks API registration and delivery authentication.
 *
 * A delivery is signed as:
 *   contentHash  = base64(SHA-256(raw body))         (x-ms-content-sha256)
 *   stringToSign = "POST\n" + pathAndQuery + "\n" + x-ms-date + ";" +
 *                  host + ";" + contentHash
 *   signature    = base64(HMAC-SHA256(secret as UTF-8 bytes, stringToSign))
 *   Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;
 *                  x-ms-content-sha256&Signature=<signature>
 * where pathAndQuery and host (with a non-default port) are those of the
 * registered URL.
 */
#include "src/vipps/internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

kv_vipps_status kv_vipps_webhook_register(kv_vipps_webhook *out,
                                          kv_vipps_client *c,
                                          const char *url,
                                          unsigned int events)
{
    char *body = out ? kv_vipps__build_webhook(url, events) : NULL;
    if (!body) {
        kv__set_error(c, KV_VIPPS_API_WEBHOOKS, KV_VIPPS_ERR_BAD_REQUEST,
                      "webhook register: needs a URL and at least one event");
        return KV_VIPPS_E_INVALID;
    }
    kv_req rq = { .method = "POST", .path = "/webhooks/v1/webhooks",
                  .body = body, .api = KV_VIPPS_API_WEBHOOKS,
                  .retry = KV_RETRY_NEVER_AFTER_SEND };
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    free(body);
    if (st == KV_VIPPS_OK) {
        kv_vipps_webhook w;
        st = kv_vipps__parse_webhook_reg(&w, r.body, r.len);
        if (st == KV_VIPPS_OK) {
            snprintf(w.url, sizeof w.url, "%s", url);
            w.events = events & (KV_VIPPS_WH_ALL | KV_VIPPS_WH_CHECKED_IN);
            *out = w;
            memset(&w, 0, sizeof w);
        } else {
            kv__set_error(c, KV_VIPPS_API_WEBHOOKS, KV_VIPPS_ERR_PROTOCOL,
                          "POST /webhooks/v1/webhooks: unexpected answer body");
        }
    }
    if (r.body)
        memset(r.body, 0, r.len);  /* held the secret */
    kv__resp_free(&r);
    return st;
}

kv_vipps_status kv_vipps_webhook_list(kv_vipps_webhook **out, size_t *n_out,
                                      kv_vipps_client *c)
{
    if (!out || !n_out)
        return KV_VIPPS_E_INVALID;
    kv_req rq = { .method = "GET", .path = "/webhooks/v1/webhooks",
                  .api = KV_VIPPS_API_WEBHOOKS };
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    if (st == KV_VIPPS_OK) {
        kv_vipps_webhook *w = NULL;
        size_t n = 0;
        st = kv_vipps__parse_webhook_list(&w, &n, r.body, r.len);
        if (st == KV_VIPPS_OK) {
            *out = w;
            *n_out = n;
        } else {
            kv__set_error(c, KV_VIPPS_API_WEBHOOKS, KV_VIPPS_ERR_PROTOCOL,
                          "GET /webhooks/v1/webhooks: unexpected answer body");
        }
    }
    kv__resp_free(&r);
    return st;
}

kv_vipps_status kv_vipps_webhook_delete(kv_vipps_client *c, const char *id)
{
    kv_req rq = { .method = "DELETE", .api = KV_VIPPS_API_WEBHOOKS };
    char seg[200];
    if (!id || !*id || kv__path_seg(seg, sizeof seg, id) < 0) {
        kv__set_error(c, KV_VIPPS_API_WEBHOOKS, KV_VIPPS_ERR_BAD_REQUEST,
                      "webhook delete: bad id");
        return KV_VIPPS_E_INVALID;
    }
    snprintf(rq.path, sizeof rq.path, "/webhooks/v1/webhooks/%s", seg);
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    kv__resp_free(&r);
    return st;
}

/* Split the registered URL into authority (host[:port], default port
 * dropped) and path+query ("/" when empty). */
static int split_url(const char *url, char *host, size_t hl, char *pq,
                     size_t pl)
{
    const char *p;
    int https;
    if (!strncasecmp(url, "https://", 8)) {
        p = url + 8;
        https = 1;
    } else if (!strncasecmp(url, "http://", 7)) {
        p = url + 7;
        https = 0;
    } else {
        return -1;
    }
    const char *e = p + strcspn(p, "/?#");
    if (e == p || (size_t)(e - p) >= hl)
        return -1;
    memcpy(host, p, (size_t)(e - p));
    host[e - p] = '\0';
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        const char *port = colon + 1;
        if ((https && !strcmp(port, "443")) || (!https && !strcmp(port, "80"))
            || !*port)
            *colon = '\0';
    }
    for (char *h = host; *h; h++)
        if (*h >= 'A' && *h <= 'Z')
            *h = (char)(*h - 'A' + 'a');
    size_t n = strcspn(e, "#");
    if (n == 0) {
        if (pl < 2)
            return -1;
        strcpy(pq, "/");
        return 0;
    }
    if (*e == '?') {
        if (n + 2 > pl)
            return -1;
        pq[0] = '/';
        memcpy(pq + 1, e, n);
        pq[n + 1] = '\0';
        return 0;
    }
    if (n + 1 > pl)
        return -1;
    memcpy(pq, e, n);
    pq[n] = '\0';
    return 0;
}

static int b64(char *out, size_t outlen, const unsigned char *in, size_t n)
{
    if (outlen < 4 * ((n + 2) / 3) + 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return 0;
}

kv_vipps_status kv_vipps_webhook_sign(char *out_hash, size_t hash_len,
                                      char *out_auth, size_t auth_len,
                                      const char *secret, const char *url,
                                      const void *body, size_t len,
                                      const char *x_ms_date)
{
    if (!out_hash || !out_auth || !secret || !*secret || !url ||
        (!body && len) || !x_ms_date)
        return KV_VIPPS_E_INVALID;
    char host[256], pq[2048];
    if (split_url(url, host, sizeof host, pq, sizeof pq) < 0)
        return KV_VIPPS_E_INVALID;
    unsigned char dig[SHA256_DIGEST_LENGTH];
    char hash[64];
    SHA256(body ? body : (const void *)"", len, dig);
    if (b64(hash, sizeof hash, dig, sizeof dig) < 0)
        return KV_VIPPS_E_INVALID;
    char *sts = NULL;
    if (asprintf(&sts, "POST\n%s\n%s;%s;%s", pq, x_ms_date, host, hash) < 0)
        return KV_VIPPS_E_NOMEM;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
              (const unsigned char *)sts, strlen(sts), mac, &maclen)) {
        free(sts);
        return KV_VIPPS_E_NOMEM;
    }
    free(sts);
    char sig[96];
    if (b64(sig, sizeof sig, mac, maclen) < 0)
        return KV_VIPPS_E_INVALID;
    char auth[200];
    int n = snprintf(auth, sizeof auth,
                     "HMAC-SHA256 SignedHeaders=x-ms-date;host;"
                     "x-ms-content-sha256&Signature=%s", sig);
    if (n < 0 || (size_t)n >= auth_len || strlen(hash) >= hash_len)
        return KV_VIPPS_E_TOOLONG;
    memcpy(out_hash, hash, strlen(hash) + 1);
    memcpy(out_auth, auth, (size_t)n + 1);
    OPENSSL_cleanse(mac, sizeof mac);
    return KV_VIPPS_OK;
}

kv_vipps_status kv_vipps_webhook_verify(const char *secret, const char *url,
                                        const void *body, size_t len,
                                        const char *x_ms_date,
                                        const char *content_sha256,
                                        const char *authorization,
                                        time_t now, long max_skew_s)
{
    if (!secret || !*secret || !url || (!body && len))
        return KV_VIPPS_E_INVALID;
    if (!x_ms_date || !content_sha256 || !authorization)
        return KV_VIPPS_E_SIGNATURE;
    char hash[64], auth[200];
    kv_vipps_status st = kv_vipps_webhook_sign(hash, sizeof hash, auth,
                                               sizeof auth, secret, url,
                                               body, len, x_ms_date);
    if (st == KV_VIPPS_E_TOOLONG || st == KV_VIPPS_E_INVALID)
        return st == KV_VIPPS_E_INVALID ? KV_VIPPS_E_INVALID
                                        : KV_VIPPS_E_SIGNATURE;
    if (st != KV_VIPPS_OK)
        return st;
    /* Both comparisons run in constant time (for equal lengths). */
    int ok_hash = kv__ct_streq(hash, content_sha256);
    int ok_auth = kv__ct_streq(auth, authorization);
    if (!(ok_hash & ok_auth))
        return KV_VIPPS_E_SIGNATURE;
    if (max_skew_s > 0) {
        time_t t = curl_getdate(x_ms_date, NULL);
        if (t <= 0)
            return KV_VIPPS_E_STALE;
        long d = (long)(now - t);
        if (d > max_skew_s || d < -max_skew_s)
            return KV_VIPPS_E_STALE;
    }
    return KV_VIPPS_OK;
}
