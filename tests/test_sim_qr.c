/*
 * test_sim_qr.c - QR codes: ePayment QR images decoded with zbar,
 * merchant-callback stickers, personal QR codes and customer tokens.
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
#include <png.h>
#include <zbar.h>

#include "sim/sim.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"

static kvts_sim g_sim;   /* the shared simulator of the suite (default options) */

static int setup(void **state) { (void)state; return kvts_suite_setup(&g_sim); }
static int teardown(void **state) { (void)state; kvts_suite_teardown(&g_sim); return 0; }

/* Decode a PNG into 8-bit gray and scan it with zbar; returns the text. */
static char *scan_png(const unsigned char *data, size_t len, int *w_out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) return NULL;
    img.format = PNG_FORMAT_GRAY;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) { free(px); png_image_free(&img); return NULL; }
    *w_out = (int)img.width;
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_t *zi = zbar_image_create();
    zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(zi, img.width, img.height);
    zbar_image_set_data(zi, px, (unsigned long)img.width * img.height, NULL);
    char *out = NULL;
    if (zbar_scan_image(sc, zi) > 0) {
        const zbar_symbol_t *sym = zbar_image_first_symbol(zi);
        if (sym) out = strdup(zbar_symbol_get_data(sym));
    }
    zbar_image_destroy(zi);
    zbar_image_scanner_destroy(sc);
    free(px);
    return out;
}

/* doc §3.2 qrFormat IMAGE/PNG with size; §5.2 QR API one-time QR. */
static void test_sim__qr_images(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char *b = kvts_create_body("OSL-qrpng-0001", 14900, "QR", "\"qrFormat\":{\"format\":\"IMAGE/PNG\",\"size\":400}");
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-qrpng-0001-c1", b);
    free(b);
    assert_int_equal(r.status, 201);
    char img[512];
    snprintf(img, sizeof img, "%s", kvts_jstr(r.json, "redirectUrl"));
    kvts_resp_free(&r);
    /* the image needs no authentication (doc §5.1) */
    assert_true(!strncmp(img, U, strlen(U)));
    kvts_http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.hdrs, "image/png"));
    int w = 0;
    char *text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 400);
    assert_non_null(text);
    assert_true(!strncmp(text, "https://qr.vipps.no/", 20));
    free(text);
    kvts_resp_free(&r);

    /* eCom initiate, then the QR API with Accept text/targetUrl and image/png */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"https://example.no/cb\","
             "\"fallBack\":\"https://example.no\"},\"customerInfo\":{},"
             "\"transaction\":{\"orderId\":\"OSL-qrapi-0001\",\"amount\":14900,\"transactionText\":\"Kaffe\","
             "\"skipLandingPage\":false}}");
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 200);
    char landing[512];
    snprintf(landing, sizeof landing, "{\"url\":\"%s\"}", kvts_jstr(r.json, "url"));
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/targetUrl", landing);
    assert_int_equal(r.status, 200);
    assert_true(!strncmp(kvts_jstr(r.json, "url"), "https://qr.vipps.no/", 20));
    assert_true(kvts_jnum(r.json, "expiresIn") > 0 && kvts_jnum(r.json, "expiresIn") <= 300);
    kvts_resp_free(&r);
    const char *h[] = { a.auth, a.sub, a.msn, "Accept: image/png", "Size: 300", NULL };
    kvts_http(&r, U, "POST", "/qr/v1/", h, landing);
    assert_int_equal(r.status, 200);
    snprintf(img, sizeof img, "%s", kvts_jstr(r.json, "url"));
    kvts_resp_free(&r);
    kvts_http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 300);
    assert_non_null(text);
    free(text);
    kvts_resp_free(&r);
    /* unsupported Accept -> 415, bad url -> 400 */
    kvts_callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/plain", landing);
    assert_int_equal(r.status, 415);
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/targetUrl", "{\"url\":\"https://example.no/x\"}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
}

/* doc §5.2/§5.3: merchant-callback QR (create/update, get, list, image,
 * delete), the scan control endpoint's customerToken (15 minutes, single
 * use, bound to the MSN), personal QR codes, the exchange endpoints, and
 * the ePayment create's 4050 / 4060 for a bad one. */
static void test_sim__merchant_callback_qr_and_customer_tokens(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a, b;
    kvts_login(&a, U, "oslo", NULL);
    kvts_login(&b, U, "bergen", NULL);
    kvts_resp r;
    kvts_callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/kvitt-till-9", "Content-Type: application/json",
               "{\"locationDescription\":\"Kasse 9\"}");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/kvitt-till-9", "Content-Type: application/json",
               "{\"locationDescription\":\"This text is far longer than thirty-six characters\"}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/bad%20id", "Content-Type: application/json",
               "{\"locationDescription\":\"x\"}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/qr/v1/merchant-callback/kvitt-till-9?QrImageFormat=PNG&QrImageSize=300", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "merchantSerialNumber"), "123456");
    assert_string_equal(kvts_jstr(r.json, "locationDescription"), "Kasse 9");
    char content[256], img[512];
    snprintf(content, sizeof content, "%s", kvts_jstr(r.json, "qrContent"));
    snprintf(img, sizeof img, "%s", kvts_jstr(r.json, "qrImageUrl"));
    kvts_resp_free(&r);
    assert_true(!strncmp(content, "https://qr.vipps.no/", 20));
    kvts_http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    int w = 0;
    char *text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 300);
    assert_non_null(text);
    assert_string_equal(text, content);
    free(text);
    kvts_resp_free(&r);
    /* another MSN does not see it; the list has it */
    kvts_call(&r, U, &b, "GET", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/qr/v1/merchant-callback", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    kvts_resp_free(&r);

    /* a scan: a token for MSN 123456, usable once */
    kvts_http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{\"phone\":\"4791234567\"}");
    assert_int_equal(r.status, 200);
    char tok[128], ext[256];
    snprintf(tok, sizeof tok, "%s", kvts_jstr(r.json, "customerToken"));
    kvts_resp_free(&r);
    snprintf(ext, sizeof ext, "{\"customer\":{\"customerToken\":\"%s\"},\"requestedData\":[\"MSISDN\"]}", tok);
    kvts_callh(&r, U, &a, "POST", "/qr/v1/exchange/customer", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "msisdn"), "4791234567");
    kvts_resp_free(&r);
    kvts_callh(&r, U, &b, "POST", "/qr/v1/exchange/customer", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 400); /* bound to the MSN */
    kvts_resp_free(&r);
    snprintf(ext, sizeof ext, "\"customer\":{\"customerToken\":\"%s\"}", tok);
    char *cb = kvts_create_body("BGO-token-0001", 14900, "PUSH_MESSAGE", ext);
    kvts_call(&r, U, &b, "POST", "/epayment/v1/payments", "BGO-token-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "4050");
    kvts_resp_free(&r);
    cb = kvts_create_body("OSL-token-0001", 14900, "PUSH_MESSAGE", ext);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 201);
    kvts_resp_free(&r);
    cb = kvts_create_body("OSL-token-0002", 14900, "PUSH_MESSAGE", ext);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0002-c", cb);
    free(cb);
    assert_int_equal(r.status, 400); /* single use */
    assert_string_equal(kvts_errcode(&r), "4050");
    kvts_resp_free(&r);
    /* an expired one (validSeconds 0) */
    kvts_http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{\"validSeconds\":0}");
    assert_int_equal(r.status, 200);
    snprintf(ext, sizeof ext, "\"customer\":{\"customerToken\":\"%s\"}", kvts_jstr(r.json, "customerToken"));
    kvts_resp_free(&r);
    cb = kvts_create_body("OSL-token-0003", 14900, "PUSH_MESSAGE", ext);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0003-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "4050");
    kvts_resp_free(&r);

    /* personal QR: exchange and create; a made-up one is 4060 */
    kvts_http(&r, U, "POST", "/sim/v1/personal-qr", NULL, "{\"phone\":\"4748059470\"}");
    assert_int_equal(r.status, 200);
    char pq[128];
    snprintf(pq, sizeof pq, "%s", kvts_jstr(r.json, "qrCode"));
    kvts_resp_free(&r);
    snprintf(ext, sizeof ext, "{\"qrCode\":\"%s\"}", pq);
    kvts_callh(&r, U, &a, "POST", "/qr/v1/exchange", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "msisdn"), "4748059470");
    assert_string_equal(kvts_jstr(r.json, "version"), "2.0");
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "POST", "/qr/v1/exchange", "Content-Type: application/json",
               "{\"qrCode\":\"https://qr.vipps.no/p/nope\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r.json, "extraDetails"));
    kvts_resp_free(&r);
    snprintf(ext, sizeof ext, "\"customer\":{\"personalQr\":\"%s\"}", pq);
    cb = kvts_create_body("OSL-pqr-0001", 14900, "PUSH_MESSAGE", ext);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-pqr-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 201);
    kvts_resp_free(&r);
    cb = kvts_create_body("OSL-pqr-0002", 14900, "PUSH_MESSAGE", "\"customer\":{\"personalQr\":\"https://qr.vipps.no/p/nope\"}");
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-pqr-0002-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "4060");
    kvts_resp_free(&r);

    /* delete: gone, its image too, a scan finds nothing */
    kvts_call(&r, U, &a, "DELETE", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "DELETE", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{}");
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__qr_images),
        cmocka_unit_test(test_sim__merchant_callback_qr_and_customer_tokens),
    };
    return cmocka_run_group_tests_name("sim_qr", tests, setup, teardown);
}
