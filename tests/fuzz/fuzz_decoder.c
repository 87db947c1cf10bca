/* fuzz_decoder.c - libFuzzer target: decoder and dump over arbitrary bytes.
 * Checks the decoder's invariants: commands are contiguous, every length
 * is >= 1, and the lengths add up to the input size.
 * fuzz-sources: escpos
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/decoder.h"
#include "escpos/dump.h"

static int sink(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy so reads past the end are caught by ASan */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    kv_dec *d;
    if (kv_dec_create(&d, buf, size) != KV_DEC_OK) {
        free(buf);
        return 0;
    }
    kv_dec_cmd c;
    size_t pos = 0;
    char params[128];
    while (kv_dec_next(d, &c) == KV_DEC_OK) {
        if (c.offset != pos || c.length == 0 || c.length > size - pos)
            abort();
        if (c.data && (c.data < buf || c.data + c.datalen > buf + size))
            abort();
        kv_dec_format_params(&c, params, sizeof params);
        pos += c.length;
    }
    if (pos != size)
        abort();
    size_t off;
    if (kv_dec_unprinted(d, &off) > size)
        abort();
    kv_dec_destroy(d);
    size_t out = 0;
    kv_dump_opts o = KV_DUMP_OPTS_INIT;
    kv_dump_info info;
    o.json = size & 1;
    if (kv_dump(buf, size, &o, sink, &out, &info) == 0 && info.bytes != size)
        abort();
    free(buf);
    return 0;
}
