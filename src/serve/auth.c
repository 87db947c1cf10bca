/* auth.c - bearer tokens checked against SHA-256 hashes in constant time. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "src/serve/auth.h"

struct kv_auth {
    kv_till *tills;
    size_t n, cap;
};

const char *kv_auth_strerror(kv_auth_status st)
{
    switch (st) {
    case KV_AUTH_OK: return "ok";
    case KV_AUTH_E_ARG: return "invalid till definition";
    case KV_AUTH_E_NOMEM: return "out of memory";
    case KV_AUTH_E_DENIED: return "missing or invalid bearer token";
    case KV_AUTH_E_DUPLICATE: return "two tills share an id or a token";
    }
    return "unknown auth status";
}

kv_auth_status kv_auth_create(kv_auth **out)
{
    kv_auth *a = calloc(1, sizeof *a);
    if (!a)
        return KV_AUTH_E_NOMEM;
    *out = a;
    return KV_AUTH_OK;
}

void kv_auth_destroy(kv_auth *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->tills, a->cap * sizeof *a->tills);
    free(a->tills);
    free(a);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

kv_auth_status kv_auth_add(kv_auth *a, const char *id, const char *store,
                           const char *hex, int chain_refund, const char *printer)
{
    if (!a || !id || !store || !hex || !*id || !*store)
        return KV_AUTH_E_ARG;
    if (strlen(id) >= sizeof a->tills[0].id || strlen(store) >= sizeof a->tills[0].store)
        return KV_AUTH_E_ARG;
    if (printer && strlen(printer) >= sizeof a->tills[0].printer)
        return KV_AUTH_E_ARG;
    if (strlen(hex) != 64)
        return KV_AUTH_E_ARG;
    unsigned char h[32];
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return KV_AUTH_E_ARG;
        h[i] = (unsigned char)(hi << 4 | lo);
    }
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->tills[i].id, id) == 0 || memcmp(a->tills[i].token_sha256, h, 32) == 0)
            return KV_AUTH_E_DUPLICATE;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        kv_till *t = realloc(a->tills, nc * sizeof *t);
        if (!t)
            return KV_AUTH_E_NOMEM;
        a->tills = t;
        a->cap = nc;
    }
    kv_till *t = &a->tills[a->n];
    memset(t, 0, sizeof *t);
    strcpy(t->id, id);
    strcpy(t->store, store);
    if (printer)
        strcpy(t->printer, printer);
    t->chain_refund = chain_refund ? 1 : 0;
    memcpy(t->token_sha256, h, 32);
    a->n++;
    return KV_AUTH_OK;
}

kv_auth_status kv_auth_check(const kv_till **out, const kv_auth *a, const char *authz)
{
    if (!a || !authz || strncasecmp(authz, "Bearer ", 7) != 0)
        return KV_AUTH_E_DENIED;
    const char *tok = authz + 7;
    while (*tok == ' ')
        tok++;
    size_t len = strlen(tok);
    if (len == 0 || len > 4096)
        return KV_AUTH_E_DENIED;
    unsigned char h[32];
    SHA256((const unsigned char *)tok, len, h);
    /* Visit every till and never stop early: the time taken does not
     * depend on which (if any) till matched. */
    size_t found = (size_t)-1;
    for (size_t i = 0; i < a->n; i++) {
        int eq = CRYPTO_memcmp(a->tills[i].token_sha256, h, 32) == 0;
        size_t mask = (size_t)0 - (size_t)eq;
        found = (found & ~mask) | (i & mask);
    }
    OPENSSL_cleanse(h, sizeof h);
    if (found == (size_t)-1)
        return KV_AUTH_E_DENIED;
    *out = &a->tills[found];
    return KV_AUTH_OK;
}

size_t kv_auth_count(const kv_auth *a) { return a ? a->n : 0; }

const kv_till *kv_auth_till(const kv_auth *a, size_t i)
{
    return a && i < a->n ? &a->tills[i] : NULL;
}

void kv_auth_hash_token(char hex[65], const char *token)
{
    unsigned char h[32];
    SHA256((const unsigned char *)token, strlen(token), h);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    OPENSSL_cleanse(h, sizeof h);
}
