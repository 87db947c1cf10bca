/* fuzz-sources: src/vipps src/util */
/*
 * fuzz_vipps_parse.c - libFuzzer target over the payment client's
 * response, error, callback and webhook parsers (src/vipps/wire.h) and the
 * log masking.  The first input byte selects the parser, the rest is the
 * body as it would arrive from the network.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/vipps/vipps.h"
#include "src/vipps/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    const char *b = (const char *)data + 1;
    size_t n = size - 1;
    switch (sel % 16) {
    case 0: {
        char *tok = NULL;
        time_t exp;
        long life;
        if (kv_vipps__parse_token(&tok, &exp, &life, b, n, 1700000000) == KV_VIPPS_OK)
            free(tok);
        break;
    }
    case 1: {
        kv_vipps_created c;
        kv_vipps__parse_created(&c, b, n);
        break;
    }
    case 2: {
        kv_vipps_payment p;
        kv_vipps__parse_payment(&p, b, n);
        break;
    }
    case 3: {
        kv_vipps_event *ev = NULL;
        size_t cnt = 0;
        if (kv_vipps__parse_events(&ev, &cnt, b, n) == KV_VIPPS_OK)
            kv_vipps_events_free(ev);
        break;
    }
    case 4: {
        char url[256];
        kv_vipps__parse_ecom_initiate(url, sizeof url, b, n);
        break;
    }
    case 5: {
        kv_vipps_qr q;
        kv_vipps__parse_qr(&q, b, n);
        break;
    }
    case 6: {
        kv_vipps_ecom_details d;
        kv_vipps__parse_ecom_details(&d, b, n);
        break;
    }
    case 7: {
        kv_vipps_ecom_result r;
        kv_vipps__parse_ecom_result(&r, b, n);
        break;
    }
    case 8: {
        kv_vipps_webhook w;
        kv_vipps__parse_webhook_reg(&w, b, n);
        break;
    }
    case 9: {
        kv_vipps_webhook *w = NULL;
        size_t cnt = 0;
        if (kv_vipps__parse_webhook_list(&w, &cnt, b, n) == KV_VIPPS_OK)
            free(w);
        break;
    }
    case 10: {
        kv_vipps_webhook_event e;
        kv_vipps_webhook_parse(&e, b, n);
        break;
    }
    case 11: {
        kv_vipps_error e;
        int status = 400 + (int)(sel / 16) * 10;
        kv_vipps__parse_error(&e, (kv_vipps_api)((sel / 16) % 6), status, b, n,
                              (kv_vipps_lang)((sel / 16) % 4), "POST /fuzz");
        break;
    }
    case 12: {
        kv_vipps_ecom_callback cb;
        kv_vipps_ecom_callback_parse(&cb, b, n, "tok", (sel & 0x10) ? "tok" : NULL);
        break;
    }
    case 13: {
        char *s = malloc(n + 1);
        if (!s)
            return 0;
        memcpy(s, b, n);
        s[n] = '\0';
        kv_vipps__mask_json(s);
        kv_vipps__mask_digits(s);
        kv_vipps__mask_str(s, "secret");
        free(s);
        break;
    }
    case 14: {
        /* Header values from the network: split the input in three. */
        char *s = malloc(n + 1);
        if (!s)
            return 0;
        memcpy(s, b, n);
        s[n] = '\0';
        char *d = s, *h = strchr(d, '\n'), *a = NULL;
        if (h) {
            *h++ = '\0';
            a = strchr(h, '\n');
            if (a)
                *a++ = '\0';
        }
        kv_vipps_webhook_verify("fuzz-secret", "https://till.example.no/wh?x=1",
                                s, n, d, h, a, 1700000000, 300);
        free(s);
        break;
    }
    default: {
        char *s = malloc(n + 1);
        if (!s)
            return 0;
        memcpy(s, b, n);
        s[n] = '\0';
        char hash[64], auth[200];
        kv_vipps_webhook_sign(hash, sizeof hash, auth, sizeof auth, "k", s,
                              "{}", 2, "Thu, 30 Mar 2023 08:38:32 GMT");
        free(s);
        break;
    }
    }
    return 0;
}
