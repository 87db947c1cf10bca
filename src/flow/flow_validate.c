/* flow_validate.c - amounts, items, request validation and references. */
#include "src/flow/flow_int.h"

#include <sys/random.h>

#include "drivers/uri.h"

#include <fcntl.h>
#include <unistd.h>
#include "escpos/profile.h"
#include "src/util/jsoncheck.h"

/* ---------------------------------------------------------------- */
/* amounts                                                           */

#define ACCEPTED_FORMS "write it like 1234.50, 1234,50 or 1234"

int kv_flow_parse_amount(int64_t *out, const char *text, char *err, size_t errlen)
{
    if (!text || !*text) {
        setmsg(err, errlen, "the amount is empty; write it like 149.00");
        return -1;
    }
    const char *p = text;
    int64_t whole = 0;
    int digits = 0;
    if (*p == '-' || *p == '+') {
        setmsg(err, errlen, "'%s': the amount must be a positive number like 149.00 (no sign)", text);
        return -1;
    }
    while (isdigit((unsigned char)*p)) {
        if (whole > 100000000000LL) {
            setmsg(err, errlen, "'%s' is too large", text);
            return -1;
        }
        whole = whole * 10 + (*p - '0');
        p++;
        digits++;
    }
    int64_t frac = 0;
    int fd = 0;
    if (*p == ' ' && digits && isdigit((unsigned char)p[1])) {
        setmsg(err, errlen, "'%s': thousands separators are not accepted; %s", text, ACCEPTED_FORMS);
        return -1;
    }
    if (*p == '.' || *p == ',') {
        p++;
        const char *fstart = p;
        while (isdigit((unsigned char)*p))
            p++;
        fd = (int)(p - fstart);
        if (*p == '.' || *p == ',') {
            /* 1.234,50: a thousands separator */
            setmsg(err, errlen, "'%s': thousands separators are not accepted; %s", text, ACCEPTED_FORMS);
            return -1;
        }
        if (fd == 3 && !*p) {
            /* 1.234 or 1,234: three decimals or a thousands separator */
            setmsg(err, errlen, "'%s' has more than two decimals (thousands separators are not accepted); %s",
                   text, ACCEPTED_FORMS);
            return -1;
        }
        if (fd > 2) {
            setmsg(err, errlen, "'%s' has more than two decimals; %s", text, ACCEPTED_FORMS);
            return -1;
        }
        if (fd == 0) {
            setmsg(err, errlen, "'%s': digits expected after the decimal point; %s", text, ACCEPTED_FORMS);
            return -1;
        }
        for (const char *q = fstart; q < p; q++)
            frac = frac * 10 + (*q - '0');
    }
    if (*p || digits == 0) {
        setmsg(err, errlen, "'%s' is not an amount; write it like 149.00", text);
        return -1;
    }
    if (fd == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return 0;
}

void kv_flow_format_amount(char *buf, size_t len, int64_t minor)
{
    snprintf(buf, len, "%s%lld.%02lld", minor < 0 ? "-" : "", (long long)(llabs(minor) / 100),
             (long long)(llabs(minor) % 100));
}

/* Items: JSON array of {name, quantity, unit_price, vat_rate}.  Returns 0
 * or -1 with a message.  it->root must be freed with cJSON_Delete. */
int kv__flow_parse_items(parsed_items *it, const char *json, char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    if (!json || !*json)
        return 0;
    /* cJSON cuts a name at \u0000 and keeps one of two equal keys. */
    kv_jsoncheck_where w;
    kv_jsoncheck_status js = kv_jsoncheck(json, strlen(json), &w);
    if (js == KV_JSONCHECK_E_SYNTAX || js == KV_JSONCHECK_E_TRAILING) {
        setmsg(err, errlen, "items: not a JSON array of {\"name\",\"quantity\",\"unit_price\",\"vat_rate\"} "
               "(error near byte %zu)", w.offset);
        return -1;
    }
    if (js != KV_JSONCHECK_OK) {
        setmsg(err, errlen, "items%s: %s", w.path[0] == '[' ? w.path : "", kv_jsoncheck_strerror(js));
        return -1;
    }
    it->root = cJSON_Parse(json);
    if (!it->root || !cJSON_IsArray(it->root)) {
        setmsg(err, errlen, "items: not a JSON array of {\"name\",\"quantity\",\"unit_price\",\"vat_rate\"}");
        return -1;
    }
    int n = cJSON_GetArraySize(it->root);
    if (n < 1 || n > MAX_ITEMS) {
        setmsg(err, errlen, "items: between 1 and %d items expected, got %d", MAX_ITEMS, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_GetArrayItem(it->root, i);
        if (!cJSON_IsObject(o)) {
            setmsg(err, errlen, "items[%d]: not an object like {\"name\":\"Latte\",\"quantity\":2,"
                   "\"unit_price\":\"49.50\",\"vat_rate\":15}", i);
            return -1;
        }
        for (const cJSON *k = o->child; k; k = k->next) {
            if (!k->string || (strcmp(k->string, "name") && strcmp(k->string, "quantity") &&
                               strcmp(k->string, "unit_price") && strcmp(k->string, "vat_rate"))) {
                setmsg(err, errlen, "items[%d]: unknown key \"%.40s\"; the keys are name, quantity, unit_price, vat_rate",
                       i, k->string ? k->string : "");
                return -1;
            }
        }
        cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        cJSON *qty = cJSON_GetObjectItemCaseSensitive(o, "quantity");
        cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "unit_price");
        cJSON *vat = cJSON_GetObjectItemCaseSensitive(o, "vat_rate");
        kv_doc_item *d = &it->items[i];
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 100) {
            setmsg(err, errlen, "items[%d]: \"name\" must be a text of 1..100 characters", i);
            return -1;
        }
        d->name = name->valuestring;
        d->quantity = 1;
        if (qty) {
            if (!cJSON_IsNumber(qty) || qty->valuedouble < 1 || qty->valuedouble > 100000 ||
                qty->valuedouble != (double)(int64_t)qty->valuedouble) {
                setmsg(err, errlen, "items[%d]: \"quantity\" must be a whole number 1..100000", i);
                return -1;
            }
            d->quantity = (int64_t)qty->valuedouble;
        }
        char aerr[128];
        if (cJSON_IsString(price)) {
            if (kv_flow_parse_amount(&d->unit_price, price->valuestring, aerr, sizeof aerr)) {
                setmsg(err, errlen, "items[%d]: \"unit_price\": %s", i, aerr);
                return -1;
            }
        } else if (cJSON_IsNumber(price) && price->valuedouble >= 0 && price->valuedouble < 1e11 &&
                   price->valuedouble == (double)(int64_t)price->valuedouble) {
            d->unit_price = (int64_t)price->valuedouble; /* minor units */
        } else {
            setmsg(err, errlen, "items[%d]: \"unit_price\" must be a decimal text like \"49.50\" or whole minor units", i);
            return -1;
        }
        d->vat_bp = 2500;
        if (vat) {
            if (!cJSON_IsNumber(vat) || vat->valuedouble < 0 || vat->valuedouble > 100) {
                setmsg(err, errlen, "items[%d]: \"vat_rate\" must be a percentage 0..100, e.g. 25", i);
                return -1;
            }
            d->vat_bp = (int)(vat->valuedouble * 100 + 0.5);
        }
    }
    it->n = (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- */
/* validation                                                        */

kv_flow_status kv__flow_validate(kv_flow *f, vreq *v, const kv_pay_request *req, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    const kv_config_main *m = kv_config_main_get(f->cfg);
    if (!req) {
        setmsg(err, errlen, "no request");
        return KV_FLOW_E_INPUT;
    }
    v->store = kv_config_store(f->cfg, req->store_id);
    if (!v->store) {
        char list[256] = "";
        for (size_t i = 0; i < kv_config_store_count(f->cfg); i++) {
            if (list[0])
                strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, kv_config_store_at(f->cfg, i)->id, sizeof list - strlen(list) - 1);
        }
        setmsg(err, errlen, "store '%s' is not configured; known stores: %s", req->store_id ? req->store_id : "", list);
        return KV_FLOW_E_INPUT;
    }
    const char *cur = req->currency ? req->currency : v->store->currency;
    if (strcmp(cur, "NOK") && strcmp(cur, "DKK") && strcmp(cur, "EUR")) {
        setmsg(err, errlen, "currency '%s' is not supported; use NOK, DKK or EUR", cur);
        return KV_FLOW_E_INPUT;
    }
    if (strcmp(cur, v->store->currency)) {
        setmsg(err, errlen, "currency %s does not match store %s, which takes %s", cur, v->store->id, v->store->currency);
        return KV_FLOW_E_INPUT;
    }
    snprintf(v->currency, sizeof v->currency, "%s", cur);
    char aerr[160];
    if (req->amount) {
        if (kv_flow_parse_amount(&v->amount, req->amount, aerr, sizeof aerr)) {
            setmsg(err, errlen, "amount: %s", aerr);
            return KV_FLOW_E_INPUT;
        }
    } else {
        v->amount = req->amount_minor;
    }
    int64_t min = strcmp(cur, "NOK") == 0 ? 100 : 1;
    if (v->amount < min) {
        setmsg(err, errlen, "amount: at least %s %s", min == 100 ? "1.00" : "0.01", cur);
        return KV_FLOW_E_INPUT;
    }
    if (v->amount > 65000000) {
        setmsg(err, errlen, "amount: at most 650000.00 %s per payment (the API's limit)", cur);
        return KV_FLOW_E_INPUT;
    }
    if (req->phone) {
        size_t o = 0;
        for (const char *p = req->phone; *p; p++) {
            if (*p == ' ' || (*p == '+' && p == req->phone))
                continue;
            if (!isdigit((unsigned char)*p) || o >= sizeof v->phone - 1) {
                o = 0;
                break;
            }
            v->phone[o++] = *p;
        }
        v->phone[o] = 0;
        if (o < 10 || o > 15) {
            setmsg(err, errlen, "phone number: the country code and the number, 10 to 15 digits, e.g. 4791234567");
            return KV_FLOW_E_INPUT;
        }
    }
    if (req->personal_qr || req->customer_token) {
        const char *t = req->personal_qr ? req->personal_qr : req->customer_token;
        const char *what = req->personal_qr ? "personal QR" : "customer token";
        size_t n = strlen(t);
        int ok = n >= (req->personal_qr ? 5u : 1u) && n <= 255;
        for (const unsigned char *c = (const unsigned char *)t; ok && *c; c++)
            ok = *c > 0x20 && *c < 0x7f;
        if (!ok) { /* the text itself is never repeated: it is the customer's */
            setmsg(err, errlen, "%s: 5 to 255 printable characters without spaces, as the scanner "
                   "read it", what);
            return KV_FLOW_E_INPUT;
        }
        if ((req->phone != NULL) + (req->personal_qr != NULL) + (req->customer_token != NULL) > 1) {
            setmsg(err, errlen, "customer: give one of phone number, personal QR and customer token");
            return KV_FLOW_E_INPUT;
        }
        if (req->not_present) {
            setmsg(err, errlen, "not present: a customer who shows a personal QR or scans a sticker is at "
                                "the till");
            return KV_FLOW_E_INPUT;
        }
        scpy(req->personal_qr ? v->personal_qr : v->customer_token, sizeof v->personal_qr, t);
    } else if (!req->phone && v->store->flow == KV_FLOW_PUSH) {
        setmsg(err, errlen, "store %s uses the push flow: give the customer's phone number (--phone)", v->store->id);
        return KV_FLOW_E_INPUT;
    }
    if (v->store->flow == KV_FLOW_ECOM_QR && strcmp(v->store->currency, "NOK") != 0) {
        setmsg(err, errlen, "store %s: flow = ecom-qr takes NOK only; fix: flow = epayment-qr", v->store->id);
        return KV_FLOW_E_CONFIG;
    }
    if (req->receipt_by_caller && (req->phone || req->personal_qr || req->customer_token || req->not_present)) {
        setmsg(err, errlen, "receipt by caller: only for a QR sale at the till (no phone, personal QR, "
                            "customer token or not present)");
        return KV_FLOW_E_INPUT;
    }
    if (req->items_json) {
        if (strlen(req->items_json) >= sizeof(((kv_payment *)0)->items_json)) {
            setmsg(err, errlen, "items: too large (at most %zu bytes of JSON)", sizeof(((kv_payment *)0)->items_json) - 1);
            return KV_FLOW_E_INPUT;
        }
        parsed_items it;
        char ierr[200] = "";
        int rc = kv__flow_parse_items(&it, req->items_json, ierr, sizeof ierr);
        int64_t sum = 0;
        for (size_t i = 0; rc == 0 && i < it.n; i++)
            sum += it.items[i].quantity * it.items[i].unit_price;
        cJSON_Delete(it.root);
        if (rc) {
            setmsg(err, errlen, "%s", ierr);
            return KV_FLOW_E_INPUT;
        }
        if (sum != v->amount) {
            char a[32], b[32];
            kv_flow_format_amount(a, sizeof a, sum);
            kv_flow_format_amount(b, sizeof b, v->amount);
            setmsg(err, errlen, "items add up to %s but the amount is %s", a, b);
            return KV_FLOW_E_INPUT;
        }
    }
    if (req->not_present) {
        /* a push to someone away from the till: the app is their only
         * receipt, so it must carry the lines */
        if (!v->phone[0]) {
            setmsg(err, errlen, "not present: a payment for a customer who is not at the till is a push; "
                                "give the phone number (--phone / \"phone\")");
            return KV_FLOW_E_INPUT;
        }
        if (!req->items_json) {
            setmsg(err, errlen, "not present: the receipt in the app is mandatory when the customer is not "
                                "at the till; give the items (--items / \"items\")");
            return KV_FLOW_E_INPUT;
        }
    }
    const char *text = req->text ? req->text : v->store->name;
    size_t tl = strlen(text);
    if (req->text && (tl < 3 || tl > 100)) {
        setmsg(err, errlen, "text: 3 to 100 characters");
        return KV_FLOW_E_INPUT;
    }
    scpy(v->text, sizeof v->text, text);
    if (strlen(v->text) < 3)
        snprintf(v->text, sizeof v->text, "Kvitt %s", v->store->id);
    if (req->reference) {
        size_t n = strlen(req->reference);
        int ok = n >= 8 && n <= 50;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)req->reference[i]) || req->reference[i] == '-';
        if (!ok) {
            setmsg(err, errlen, "reference: 8 to 50 letters, digits or '-'");
            return KV_FLOW_E_INPUT;
        }
        snprintf(v->reference, sizeof v->reference, "%s", req->reference);
    }
    snprintf(v->printer, sizeof v->printer, "%s", req->printer ? req->printer : v->store->printer);
    /* the printer address is checked before anything is sent: a QR code
     * nobody can print must not exist at Vipps */
    if (v->printer[0]) {
        kv_uri u;
        char uerr[200] = "";
        if (kv_uri_parse(&u, v->printer, uerr, sizeof uerr) != 0) {
            if (req->printer) {
                setmsg(err, errlen, "printer: %s", uerr);
                return KV_FLOW_E_INPUT;
            }
            setmsg(err, errlen, "store %s: printer: %s", v->store->id, uerr);
            return KV_FLOW_E_CONFIG;
        }
    } else if (!vreq_push(v)) {
        setmsg(err, errlen, "store %s has no printer for the QR slip; fix: set printer = URI for the store or give --printer",
               v->store->id);
        return KV_FLOW_E_CONFIG;
    }
    snprintf(v->till, sizeof v->till, "%s", req->till_id ? req->till_id : m->till_id);
    v->timeout_s = req->timeout_s > 0 ? req->timeout_s : m->payment_timeout_s;
    if (req->timeout_s < 0) {
        setmsg(err, errlen, "timeout: a positive number of seconds");
        return KV_FLOW_E_INPUT;
    }
    return KV_FLOW_OK;
}

kv_flow_status kv_flow_validate(kv_flow *f, const kv_pay_request *req, char *err, size_t errlen)
{
    vreq v;
    if (!f)
        return KV_FLOW_E_CONFIG;
    return kv__flow_validate(f, &v, req, err, errlen);
}

void kv__flow_callback_prefix(char *buf, size_t len, const char *webhook_url)
{
    static const char tail[] = "/webhooks/vipps";
    const char *wh = webhook_url;
    if (!wh || (strncmp(wh, "https://", 8) != 0 && strncmp(wh, "http://", 7) != 0)) {
        /* no daemon to receive callbacks: .invalid never resolves (RFC
         * 2606), so Vipps' one attempt reaches nobody; the flow polls */
        snprintf(buf, len, "https://no-callbacks.invalid/kvitt");
        return;
    }
    size_t n = strlen(wh);
    while (n && wh[n - 1] == '/')
        n--;
    size_t tl = sizeof tail - 1;
    const char *host = wh + (wh[4] == 's' ? 8 : 7);
    if (n >= tl && !strncmp(wh + n - tl, tail, tl)) {
        n -= tl;
    } else {
        /* some other path: its folder is the daemon's base */
        const char *last = NULL;
        for (const char *q = host; q < wh + n; q++)
            if (*q == '/')
                last = q;
        if (last)
            n = (size_t)(last - wh);
    }
    snprintf(buf, len, "%.*s/callbacks", (int)n, wh);
}

/* Pixel size asked for Vipps' QR image: about 60 % of the paper width,
 * within the API's 100..2000. */
int kv__flow_qr_px(const kv_store *s)
{
    const kv_profile *p = kv_profile_find(s->profile);
    int px = (p ? p->dots : 576) * 3 / 5;
    return px < 100 ? 100 : px > 2000 ? 2000 : px;
}

void kv_flow_make_reference(char *buf, size_t len, const kv_config *cfg, const char *store_id)
{
    if (!buf || !len)
        return;
    const kv_store *s = cfg && store_id ? kv_config_store(cfg, store_id) : NULL;
    char prefix[24];
    size_t i = 0;
    if (s && s->reference_prefix[0]) {
        snprintf(prefix, sizeof prefix, "%s", s->reference_prefix);
        i = strlen(prefix);
    } else {
        /* no prefix configured: the store id's letters and digits, upper case */
        for (const char *p = store_id ? store_id : ""; *p && i < 8; p++)
            if (isalnum((unsigned char)*p))
                prefix[i++] = (char)toupper((unsigned char)*p);
        prefix[i] = 0;
    }
    if (!i)
        snprintf(prefix, sizeof prefix, "KV");
    unsigned char rnd[5] = { 0 };
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &x, sizeof rnd);
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
    snprintf(buf, len, "%s-%s-%02x%02x%02x%02x%02x", prefix, ts, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
}
