/* qr_callback.c - merchant-callback QR codes of the QR API (see
 * qr_callback.h). */
#include "src/vipps/qr_callback.h"
#include "src/vipps/internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kv_vipps_sticker_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 128)
        return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return 0;
    return 1;
}

static int sticker_path(kv_vipps_client *c, char *dst, size_t n, const char *id)
{
    if (!kv_vipps_sticker_id_valid(id)) {
        kv__set_error(c, KV_VIPPS_API_QR, KV_VIPPS_ERR_BAD_REQUEST,
                      "merchantQrId must be 1-128 letters, digits, '-' or '_'");
        return -1;
    }
    snprintf(dst, n, "/qr/v1/merchant-callback/%s", id);
    return 0;
}

static int copy_str(char *dst, size_t n, const cJSON *o, const char *key, int required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        return required ? -1 : 0;
    if (strlen(v->valuestring) >= n)
        return -1;
    snprintf(dst, n, "%s", v->valuestring);
    return 0;
}

static int parse_one(kv_vipps_sticker *s, const cJSON *o)
{
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(o) || copy_str(s->id, sizeof s->id, o, "merchantQrId", 1) < 0 ||
        copy_str(s->msn, sizeof s->msn, o, "merchantSerialNumber", 0) < 0 ||
        copy_str(s->location, sizeof s->location, o, "locationDescription", 0) < 0 ||
        copy_str(s->image_url, sizeof s->image_url, o, "qrImageUrl", 0) < 0 ||
        copy_str(s->content, sizeof s->content, o, "qrContent", 1) < 0)
        return -1;
    return 0;
}

static kv_vipps_status parse_get(void *out, const char *body, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    int rc = parse_one(out, o);
    cJSON_Delete(o);
    return rc < 0 ? KV_VIPPS_E_PARSE : KV_VIPPS_OK;
}

typedef struct sticker_list {
    kv_vipps_sticker *v;
    size_t n;
} sticker_list;

static kv_vipps_status parse_list(void *out, const char *body, size_t len)
{
    cJSON *a = cJSON_ParseWithLength(body, len);
    sticker_list *l = out;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return KV_VIPPS_E_PARSE;
    }
    size_t n = (size_t)cJSON_GetArraySize(a);
    kv_vipps_sticker *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        cJSON_Delete(a);
        return KV_VIPPS_E_NOMEM;
    }
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (parse_one(&v[k], e) < 0) {
            free(v);
            cJSON_Delete(a);
            return KV_VIPPS_E_PARSE;
        }
        k++;
    }
    cJSON_Delete(a);
    l->v = v;
    l->n = k;
    return KV_VIPPS_OK;
}

kv_vipps_status kv_vipps_sticker_put(kv_vipps_client *c, const char *id, const char *location)
{
    kv_req rq = { .method = "PUT", .api = KV_VIPPS_API_QR };
    if (sticker_path(c, rq.path, sizeof rq.path, id) < 0)
        return KV_VIPPS_E_INVALID;
    size_t n = location ? strlen(location) : 0;
    int ok = n >= 1 && n <= 36 * 4; /* at most 36 characters, UTF-8 */
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)(location ? location : ""); ok && *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            ok = 0;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    if (!ok || chars > 36) {
        kv__set_error(c, KV_VIPPS_API_QR, KV_VIPPS_ERR_BAD_REQUEST,
                      "locationDescription must be 1-36 characters without control characters");
        return KV_VIPPS_E_INVALID;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "locationDescription", location);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        return KV_VIPPS_E_NOMEM;
    rq.body = body;
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    kv__resp_free(&r);
    free(body);
    return st;
}

kv_vipps_status kv_vipps_sticker_get(kv_vipps_sticker *out, kv_vipps_client *c, const char *id,
                                     int size)
{
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_QR };
    char path[200];
    if (!out || sticker_path(c, path, sizeof path, id) < 0)
        return KV_VIPPS_E_INVALID;
    if (size && (size < 100 || size > 2000)) {
        kv__set_error(c, KV_VIPPS_API_QR, KV_VIPPS_ERR_BAD_REQUEST, "QR image size must be 100-2000");
        return KV_VIPPS_E_INVALID;
    }
    snprintf(rq.path, sizeof rq.path, "%s?QrImageFormat=PNG&QrImageSize=%d", path, size ? size : 1024);
    return kv__call_parse(c, &rq, parse_get, out, "GET merchant-callback QR", NULL);
}

kv_vipps_status kv_vipps_sticker_list(kv_vipps_sticker **out, size_t *n, kv_vipps_client *c)
{
    kv_req rq = { .method = "GET", .path = "/qr/v1/merchant-callback?QrImageFormat=PNG",
                  .api = KV_VIPPS_API_QR };
    sticker_list l = { NULL, 0 };
    kv_vipps_status st = kv__call_parse(c, &rq, parse_list, &l, "GET merchant-callback QRs", NULL);
    *out = l.v;
    *n = l.n;
    return st;
}

kv_vipps_status kv_vipps_sticker_delete(kv_vipps_client *c, const char *id)
{
    kv_req rq = { .method = "DELETE", .api = KV_VIPPS_API_QR };
    if (sticker_path(c, rq.path, sizeof rq.path, id) < 0)
        return KV_VIPPS_E_INVALID;
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    kv__resp_free(&r);
    return st;
}
