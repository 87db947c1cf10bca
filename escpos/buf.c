/* buf.c - growable, size-capped byte buffer with a sticky error. */
#include <stdlib.h>
#include <string.h>

#include "escpos/buf.h"

struct kv_buf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t cap;
    kv_buf_status err;
};

const char *kv_buf_strerror(kv_buf_status s)
{
    switch (s) {
    case KV_BUF_OK: return "ok";
    case KV_BUF_E_NOMEM: return "out of memory";
    case KV_BUF_E_FULL: return "buffer size limit reached";
    }
    return "unknown buffer status";
}

kv_buf *kv_buf_create(size_t cap)
{
    kv_buf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cap = cap ? cap : KV_BUF_DEFAULT_CAP;
    return b;
}

void kv_buf_destroy(kv_buf *b)
{
    if (!b)
        return;
    free(b->data);
    free(b);
}

/* Make room for n more bytes; sets the sticky error on failure. */
static int reserve(kv_buf *b, size_t n)
{
    if (b->err)
        return -1;
    if (n > b->cap - b->len) {
        b->err = KV_BUF_E_FULL;
        return -1;
    }
    size_t need = b->len + n;
    if (need <= b->alloc)
        return 0;
    size_t na = b->alloc ? b->alloc : 256;
    while (na < need)
        na = na > b->cap / 2 ? b->cap : na * 2;
    if (na > b->cap)   /* never allocate past the cap: kv_buf_put relies on it */
        na = b->cap;
    uint8_t *p = realloc(b->data, na);
    if (!p) {
        b->err = KV_BUF_E_NOMEM;
        return -1;
    }
    b->data = p;
    b->alloc = na;
    return 0;
}

kv_buf_status kv_buf_append(kv_buf *b, const void *data, size_t n)
{
    if (reserve(b, n))
        return b->err;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return KV_BUF_OK;
}

kv_buf_status kv_buf_put(kv_buf *b, uint8_t byte)
{
    if (b->len < b->alloc && !b->err) {
        b->data[b->len++] = byte;
        return KV_BUF_OK;
    }
    return kv_buf_append(b, &byte, 1);
}

uint8_t *kv_buf_grow(kv_buf *b, size_t n)
{
    if (reserve(b, n))
        return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

void kv_buf_truncate(kv_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

void kv_buf_clear(kv_buf *b)
{
    b->len = 0;
    b->err = KV_BUF_OK;
}

const uint8_t *kv_buf_data(const kv_buf *b)
{
    static const uint8_t empty[1];
    return b->data ? b->data : empty;
}

size_t kv_buf_len(const kv_buf *b)
{
    return b->len;
}

size_t kv_buf_cap(const kv_buf *b)
{
    return b->cap;
}

kv_buf_status kv_buf_status_get(const kv_buf *b)
{
    return b->err;
}
