/*
 * errors.c - status texts, error classification and cashier messages.
 *
 * The classification branches on HTTP status + numeric code only (titles
 * are reworded by the service over time).  Codes 7010 (ePayment) and 81
 * (eCom) are deliberately ambiguous on the service side (not a user, under
 * age, bad number): the cashier text only says the customer cannot pay with
 * Vipps MobilePay.
 */
#include "src/vipps/wire.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kv_vipps_strerror(kv_vipps_status st)
{
    switch (st) {
    case KV_VIPPS_OK: return "ok";
    case KV_VIPPS_E_INVALID: return "invalid argument";
    case KV_VIPPS_E_NOMEM: return "out of memory";
    case KV_VIPPS_E_API: return "the payment service refused the request";
    case KV_VIPPS_E_UNKNOWN: return "outcome unknown: check the payment again";
    case KV_VIPPS_E_UNREACHABLE: return "payment service unreachable";
    case KV_VIPPS_E_AUTH: return "payment service credentials refused";
    case KV_VIPPS_E_PARSE: return "unexpected answer from the payment service";
    case KV_VIPPS_E_REFUSED: return "refused by the client";
    case KV_VIPPS_E_SIGNATURE: return "bad signature";
    case KV_VIPPS_E_STALE: return "stale or future date";
    case KV_VIPPS_E_NOT_FOUND: return "not found";
    case KV_VIPPS_E_TOOLONG: return "value too long";
    }
    return "unknown status";
}

kv_vipps_lang kv_vipps_lang_from_code(const char *code)
{
    if (!code)
        return KV_VIPPS_LANG_EN;
    if (!strncmp(code, "nb", 2) || !strncmp(code, "no", 2) ||
        !strncmp(code, "nn", 2))
        return KV_VIPPS_LANG_NB;
    if (!strncmp(code, "da", 2))
        return KV_VIPPS_LANG_DA;
    if (!strncmp(code, "fi", 2))
        return KV_VIPPS_LANG_FI;
    return KV_VIPPS_LANG_EN;
}

/* One text per class, in en, nb, da, fi. */
static const char *pick(kv_vipps_lang l, const char *en, const char *nb,
                        const char *da, const char *fi)
{
    switch (l) {
    case KV_VIPPS_LANG_NB: return nb;
    case KV_VIPPS_LANG_DA: return da;
    case KV_VIPPS_LANG_FI: return fi;
    case KV_VIPPS_LANG_EN: return en;
    }
    return en;
}

const char *kv_vipps_cashier_text(kv_vipps_api api, kv_vipps_err_class cls,
                                  int code, kv_vipps_lang l)
{
    /* the customer's code (personal QR 4060, a sticker's customerToken
     * 4050) is not accepted: usually expired, the customer can show or
     * scan again */
    if (api == KV_VIPPS_API_EPAYMENT && (code == 4050 || code == 4060))
        return pick(l,
            "The customer's QR was not accepted (expired?). Ask the customer to show or scan it again.",
            "Kundens QR-kode ble ikke godtatt (utl\xc3\xb8pt?). Be kunden vise eller skanne den p\xc3\xa5 nytt.",
            "Kundens QR-kode blev ikke godtaget (udl\xc3\xb8" "bet?). Bed kunden vise eller scanne den igen.",
            "Asiakkaan QR-koodia ei hyv\xc3\xa4ksytty (vanhentunut?). Pyyd\xc3\xa4 n\xc3\xa4ytt\xc3\xa4m\xc3\xa4\xc3\xa4n tai skannaamaan se uudelleen.");
    switch (cls) {
    case KV_VIPPS_ERR_CUSTOMER:
        return pick(l,
            "This customer cannot pay with Vipps MobilePay. Use another payment method.",
            "Kunden kan ikke betale med Vipps MobilePay. Bruk en annen betalingsm\xc3\xa5te.",
            "Kunden kan ikke betale med Vipps MobilePay. Brug en anden betalingsmetode.",
            "Asiakas ei voi maksaa Vipps MobilePaylla. K\xc3\xa4yt\xc3\xa4 toista maksutapaa.");
    case KV_VIPPS_ERR_DECLINED:
        return pick(l,
            "The payment was declined. Ask for another payment method.",
            "Betalingen ble avvist. Be om en annen betalingsm\xc3\xa5te.",
            "Betalingen blev afvist. Bed om en anden betalingsmetode.",
            "Maksu hyl\xc3\xa4ttiin. Pyyd\xc3\xa4 toista maksutapaa.");
    case KV_VIPPS_ERR_TRANSPORT:
    case KV_VIPPS_ERR_TIMEOUT:
    case KV_VIPPS_ERR_SERVER:
        return pick(l,
            "No contact with Vipps MobilePay right now. Try again shortly.",
            "F\xc3\xa5r ikke kontakt med Vipps MobilePay n\xc3\xa5. Pr\xc3\xb8v igjen om litt.",
            "Ingen forbindelse til Vipps MobilePay lige nu. Pr\xc3\xb8v igen om lidt.",
            "Vipps MobilePay ei vastaa juuri nyt. Yrit\xc3\xa4 hetken kuluttua uudelleen.");
    case KV_VIPPS_ERR_AUTH:
    case KV_VIPPS_ERR_FORBIDDEN:
        return pick(l,
            "The till is not set up correctly for Vipps MobilePay. Contact support.",
            "Kassen er ikke riktig satt opp for Vipps MobilePay. Kontakt support.",
            "Kassen er ikke sat korrekt op til Vipps MobilePay. Kontakt support.",
            "Kassaa ei ole m\xc3\xa4\xc3\xa4ritetty oikein Vipps MobilePaylle. Ota yhteytt\xc3\xa4 tukeen.");
    case KV_VIPPS_ERR_LOCKED:
    case KV_VIPPS_ERR_RATE_LIMITED:
        return pick(l,
            "Vipps MobilePay is busy. Wait a moment and try again.",
            "Vipps MobilePay er opptatt. Vent litt og pr\xc3\xb8v igjen.",
            "Vipps MobilePay er optaget. Vent lidt og pr\xc3\xb8v igen.",
            "Vipps MobilePay on varattu. Odota hetki ja yrit\xc3\xa4 uudelleen.");
    case KV_VIPPS_ERR_NOT_FOUND:
        return pick(l, "The payment was not found.",
                    "Fant ikke betalingen.",
                    "Betalingen blev ikke fundet.",
                    "Maksua ei l\xc3\xb6ytynyt.");
    case KV_VIPPS_ERR_CONFLICT:
        return pick(l,
            "This payment was already sent with other details. Start a new payment.",
            "Denne betalingen er allerede sendt med andre detaljer. Start en ny betaling.",
            "Denne betaling er allerede sendt med andre oplysninger. Start en ny betaling.",
            "T\xc3\xa4m\xc3\xa4 maksu on jo l\xc3\xa4hetetty eri tiedoilla. Aloita uusi maksu.");
    case KV_VIPPS_ERR_STATE:
        return pick(l,
            "Not possible for this payment in its current state.",
            "Ikke mulig for denne betalingen slik den st\xc3\xa5r n\xc3\xa5.",
            "Ikke muligt for denne betaling i dens nuv\xc3\xa6rende tilstand.",
            "Ei mahdollista t\xc3\xa4m\xc3\xa4n maksun nykyisess\xc3\xa4 tilassa.");
    case KV_VIPPS_ERR_AMBIGUOUS:
        return pick(l,
            "Result not known yet. Do not hand over the goods; check the payment again.",
            "Resultatet er ikke kjent enn\xc3\xa5. Ikke lever varene; sjekk betalingen igjen.",
            "Resultatet kendes ikke endnu. Udlev\xc3\xa9r ikke varerne; tjek betalingen igen.",
            "Tulosta ei viel\xc3\xa4 tiedet\xc3\xa4. \xc3\x84l\xc3\xa4 luovuta tuotteita; tarkista maksu uudelleen.");
    case KV_VIPPS_ERR_BAD_REQUEST:
    case KV_VIPPS_ERR_PROTOCOL:
    case KV_VIPPS_ERR_NONE:
        break;
    }
    return pick(l,
        "Vipps MobilePay refused the request. Contact support.",
        "Vipps MobilePay avviste foresp\xc3\xb8rselen. Kontakt support.",
        "Vipps MobilePay afviste anmodningen. Kontakt support.",
        "Vipps MobilePay hylk\xc3\xa4si pyynn\xc3\xb6n. Ota yhteytt\xc3\xa4 tukeen.");
}

static kv_vipps_err_class by_status(int st)
{
    if (st == 401) return KV_VIPPS_ERR_AUTH;
    if (st == 403) return KV_VIPPS_ERR_FORBIDDEN;
    if (st == 404) return KV_VIPPS_ERR_NOT_FOUND;
    if (st == 409) return KV_VIPPS_ERR_CONFLICT;
    if (st == 423) return KV_VIPPS_ERR_LOCKED;
    if (st == 429) return KV_VIPPS_ERR_RATE_LIMITED;
    if (st >= 500) return KV_VIPPS_ERR_SERVER;
    if (st >= 400) return KV_VIPPS_ERR_BAD_REQUEST;
    if (st == 0) return KV_VIPPS_ERR_TRANSPORT;
    return KV_VIPPS_ERR_PROTOCOL;
}

static kv_vipps_err_class epayment_code(int code)
{
    switch (code) {
    case 7010: return KV_VIPPS_ERR_CUSTOMER;
    case 4010: case 4020: case 4150: return KV_VIPPS_ERR_CONFLICT;
    case 6160: case 6250: case 6280: return KV_VIPPS_ERR_LOCKED;
    case 5090: return KV_VIPPS_ERR_NOT_FOUND;
    case 5010: case 5020: case 5030: case 5040: case 5050: case 5060:
    case 5070: case 5080: case 5100:
        return KV_VIPPS_ERR_FORBIDDEN;
    case 6260: return KV_VIPPS_ERR_DECLINED;
    default: break;
    }
    if (code >= 6010 && code <= 6230)
        return KV_VIPPS_ERR_STATE;
    return KV_VIPPS_ERR_NONE;
}

static kv_vipps_err_class ecom_code(int code)
{
    switch (code) {
    case 81: case 82: return KV_VIPPS_ERR_CUSTOMER;
    case 41: case 42: case 43: case 44: case 45: return KV_VIPPS_ERR_DECLINED;
    case 34: case 93: return KV_VIPPS_ERR_CONFLICT;
    case 35: return KV_VIPPS_ERR_NOT_FOUND;
    case 94: return KV_VIPPS_ERR_LOCKED;
    case 31: case 32: case 33: case 36: case 37: case 38: case 39: case 97:
        return KV_VIPPS_ERR_FORBIDDEN;
    case 51: case 52: case 61: case 62: case 63: case 71: case 72: case 73:
    case 74: case 91: case 92: case 95: case 98:
        return KV_VIPPS_ERR_STATE;
    default: return KV_VIPPS_ERR_NONE;
    }
}

kv_vipps_err_class kv_vipps__classify(kv_vipps_api api, int http_status,
                                      int code)
{
    kv_vipps_err_class c = KV_VIPPS_ERR_NONE;
    if (code) {
        if (api == KV_VIPPS_API_ECOM)
            c = ecom_code(code);
        else if (api == KV_VIPPS_API_EPAYMENT)
            c = epayment_code(code);
    }
    if (c == KV_VIPPS_ERR_NONE)
        c = by_status(http_status);
    return c;
}

/* Copy free text from the service into dst: printable ASCII/UTF-8 only,
 * no control characters, phone-like digit runs masked. */
static void copy_raw(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    if (!n)
        return;
    for (size_t i = 0; src && src[i] && j + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[j++] = (ch <= 0x20 || ch == 0x7f) ? '_' : (char)ch;
    }
    dst[j] = '\0';
}

static void copy_text(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    if (!n)
        return;
    for (size_t i = 0; src && src[i] && j + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[j++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    dst[j] = '\0';
    kv_vipps__mask_digits(dst);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return (cJSON_IsString(it) && it->valuestring) ? it->valuestring : NULL;
}

static int code_of(const cJSON *it)
{
    if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 1e9)
        return (int)it->valuedouble;
    if (cJSON_IsString(it) && it->valuestring) {
        const char *s = it->valuestring;
        if (!*s || strlen(s) > 9)
            return 0;
        for (const char *p = s; *p; p++)
            if (!isdigit((unsigned char)*p))
                return 0;
        return atoi(s);
    }
    return 0;
}

void kv_vipps__parse_error(kv_vipps_error *err, kv_vipps_api api,
                           int http_status, const char *body, size_t len,
                           kv_vipps_lang lang, const char *what)
{
    char title[160] = "", detail[256] = "", trace[128] = "";
    int code = 0;
    cJSON *o = body && len ? cJSON_ParseWithLength(body, len) : NULL;

    if (cJSON_IsArray(o)) {
        /* eCom: [{errorGroup, errorCode, errorMessage, contextId}] */
        const cJSON *e = cJSON_GetArrayItem(o, 0);
        if (cJSON_IsObject(e)) {
            code = code_of(cJSON_GetObjectItemCaseSensitive(e, "errorCode"));
            copy_text(title, sizeof title, str_of(e, "errorGroup"));
            copy_text(detail, sizeof detail, str_of(e, "errorMessage"));
            copy_raw(trace, sizeof trace, str_of(e, "contextId"));
            if (!code && str_of(e, "errorCode")) {
                /* InvalidRequest: errorCode names the field */
                char f[64];
                copy_text(f, sizeof f, str_of(e, "errorCode"));
                size_t l = strlen(detail);
                snprintf(detail + l, sizeof detail - l, " (field %s)", f);
            }
        }
    } else if (cJSON_IsObject(o)) {
        const cJSON *ri = cJSON_GetObjectItemCaseSensitive(o, "responseInfo");
        if (cJSON_IsObject(ri)) {
            /* Azure (eCom): {responseInfo:{responseCode,responseMessage},
             *                result:{message}} */
            code = code_of(cJSON_GetObjectItemCaseSensitive(ri,
                                                            "responseCode"));
            copy_text(title, sizeof title, str_of(ri, "responseMessage"));
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(o, "result");
            if (cJSON_IsObject(res))
                copy_text(detail, sizeof detail, str_of(res, "message"));
            if (api != KV_VIPPS_API_ECOM)
                code = 0;
        } else if (cJSON_GetObjectItemCaseSensitive(o, "statusCode") &&
                   str_of(o, "message")) {
            /* Azure API Management: {statusCode, message} */
            copy_text(title, sizeof title, "gateway");
            copy_text(detail, sizeof detail, str_of(o, "message"));
        } else if (str_of(o, "error") && !str_of(o, "title")) {
            /* token gateway: {error, error_description, trace_id} */
            copy_text(title, sizeof title, str_of(o, "error"));
            copy_text(detail, sizeof detail, str_of(o, "error_description"));
            copy_raw(trace, sizeof trace, str_of(o, "trace_id"));
        } else {
            /* RFC 7807 problem+json (ePayment, QR, OM, webhooks) */
            copy_text(title, sizeof title, str_of(o, "title"));
            copy_text(detail, sizeof detail, str_of(o, "detail"));
            copy_raw(trace, sizeof trace, str_of(o, "traceId"));
            const cJSON *xd = cJSON_GetObjectItemCaseSensitive(o,
                                                              "extraDetails");
            const cJSON *it;
            const cJSON *xarr = cJSON_IsArray(xd) ? xd : NULL;
            cJSON_ArrayForEach(it, xarr) {
                const char *nm = str_of(it, "name");
                if (nm && !strcmp(nm, "ErrorCode")) {
                    code = code_of(cJSON_GetObjectItemCaseSensitive(it,
                                                                    "reason"));
                    break;
                }
            }
            if (!detail[0] && !title[0]) {
                const cJSON *ip = cJSON_GetObjectItemCaseSensitive(
                    o, "invalidParams");
                const cJSON *p0 = cJSON_GetArrayItem(ip, 0);
                if (cJSON_IsObject(p0))
                    copy_text(detail, sizeof detail, str_of(p0, "reason"));
            }
        }
    } else if (body && len) {
        /* Not JSON: keep a short printable excerpt for the log. */
        char tmp[121];
        size_t n = len < 120 ? len : 120;
        memcpy(tmp, body, n);
        tmp[n] = '\0';
        copy_text(detail, sizeof detail, tmp);
    }
    cJSON_Delete(o);

    memset(err, 0, sizeof *err);
    err->api = api;
    err->http_status = http_status;
    err->code = code;
    err->retry_after_s = -1;
    err->cls = kv_vipps__classify(api, http_status, code);
    memcpy(err->trace_id, trace, sizeof err->trace_id);
    snprintf(err->cashier, sizeof err->cashier, "%s",
             kv_vipps_cashier_text(api, err->cls, code, lang));
    snprintf(err->log, sizeof err->log, "%s: HTTP %d%s%.0d%s%s%s%s%s%s%s",
             what ? what : "call", http_status,
             code ? " code " : "", code,
             title[0] ? " " : "", title,
             detail[0] ? ": " : "", detail,
             trace[0] ? " (traceId " : "", trace, trace[0] ? ")" : "");
}
