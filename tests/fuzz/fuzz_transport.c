/* fuzz_transport.c - printer URI parser and status-byte handling on
 * arbitrary input: kv_uri_parse (the first line of the input as a URI),
 * kv_status_decode (the first 5 bytes as replies), kv_emu_scan (the whole
 * input as a byte stream, split at an input-chosen point).
 * fuzz-sources: drivers escpos */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/status.h"
#include "drivers/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    if (nl)
        *nl = '\0';
    kv_uri u;
    char err[256];
    if (kv_uri_parse(&u, s, err, sizeof err) == 0) {
        /* Parsed fields are NUL-terminated and within their arrays. */
        if (strlen(u.path) >= sizeof u.path || strlen(u.host) >= sizeof u.host)
            abort();
        if (u.kind == KV_URI_TCP && (u.port == 0 || u.port > 65535))
            abort();
    } else if (strlen(err) == 0) {
        abort(); /* every failure explains itself */
    }
    free(s);

    int raw[KV_SQ_COUNT];
    for (int i = 0; i < KV_SQ_COUNT; i++)
        raw[i] = (size_t)i < size ? (data[i] == 0xFF ? -1 : data[i]) : -1;
    kv_printer_status_info st;
    kv_status_decode(&st, raw);
    if ((unsigned)st.state > KV_PS_ERROR)
        abort();

    kv_emu_scanner sc;
    memset(&sc, 0, sizeof sc);
    unsigned char rep[64];
    size_t cut = size ? data[0] % (size + 1) : 0;
    size_t n = kv_emu_scan(&sc, KV_EMU_PAPER_OUT, data, cut, rep, sizeof rep);
    n += kv_emu_scan(&sc, KV_EMU_PAPER_OUT, data + cut, size - cut, rep + n, sizeof rep - n);
    if (n > sizeof rep)
        abort();
    return 0;
}
