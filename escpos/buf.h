/*
 * buf.h - a growable byte buffer with a hard size cap.
 *
 * Errors are sticky: once an append fails (allocation failure or the cap
 * would be exceeded) the buffer ignores further appends and
 * kv_buf_status_get() reports the first error, so a caller can build a
 * whole document and check once.  Not thread-safe (one owner).
 */
#ifndef KV_ESCPOS_BUF_H
#define KV_ESCPOS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef enum kv_buf_status {
    KV_BUF_OK = 0,
    KV_BUF_E_NOMEM = -1,   /* malloc/realloc failed */
    KV_BUF_E_FULL = -2     /* the size cap would be exceeded */
} kv_buf_status;

/* Static text for a status; never free it. */
const char *kv_buf_strerror(kv_buf_status s);

typedef struct kv_buf kv_buf;

/* Default cap when 0 is passed to kv_buf_create: 4 MiB. */
#define KV_BUF_DEFAULT_CAP ((size_t)4 << 20)

/* Create an empty buffer that will never hold more than cap bytes (0 =
 * KV_BUF_DEFAULT_CAP).  Returns NULL when out of memory.  Free with
 * kv_buf_destroy. */
kv_buf *kv_buf_create(size_t cap);

/* Free the buffer and its bytes.  NULL is a no-op. */
void kv_buf_destroy(kv_buf *b);

/* Append n bytes.  Returns KV_BUF_OK or the (sticky) error. */
kv_buf_status kv_buf_append(kv_buf *b, const void *data, size_t n);

/* Append one byte. */
kv_buf_status kv_buf_put(kv_buf *b, uint8_t byte);

/* Grow by n bytes and return a pointer to them for the caller to fill
 * (contents undefined until written).  The pointer is valid until the next
 * call on b.  Returns NULL (and sets the sticky error) on failure. */
uint8_t *kv_buf_grow(kv_buf *b, size_t n);

/* Shrink to len bytes (len <= current length; larger is ignored). */
void kv_buf_truncate(kv_buf *b, size_t len);

/* Empty the buffer and clear the sticky error; keeps the allocation so a
 * reused buffer does not allocate again. */
void kv_buf_clear(kv_buf *b);

/* The bytes (borrowed, valid until the next modifying call) and their
 * count.  kv_buf_data never returns NULL (an empty buffer gives a valid
 * pointer to zero bytes). */
const uint8_t *kv_buf_data(const kv_buf *b);
size_t kv_buf_len(const kv_buf *b);
size_t kv_buf_cap(const kv_buf *b);

/* First error since create/clear, KV_BUF_OK if none. */
kv_buf_status kv_buf_status_get(const kv_buf *b);

#endif
