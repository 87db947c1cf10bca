/* kvbackoffice.c - see kvbackoffice.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvbackoffice.h"

char *kvr_pay(kvf_env *e, const char *amount, int want, const char *const extra[])
{
    const char *args[16] = { "pay", "--amount", amount, "--json" };
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != want)
        fail_msg("pay %s: exit %d (want %d): %s %s", amount, r.status, want, r.out, r.err);
    char *ref = kvf_json(r.out, "reference");
    assert_non_null(ref);
    kvt_result_free(&r);
    return ref;
}

void kvr_make_day(kvf_env *e, kvr_day *d)
{
    memset(d, 0, sizeof *d);
    char *items = kvt_path("%s/items.json", e->dir);
    static const char json[] = "[{\"name\":\"Kaffe\",\"quantity\":2,\"unit_price\":\"40.00\",\"vat_rate\":15},"
                               "{\"name\":\"Kopp\",\"unit_price\":\"69.00\",\"vat_rate\":25}]";
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    const char *x1[] = { "--items", items, NULL };
    d->paid = kvr_pay(e, "149.00", 0, x1);
    d->refunded = kvr_pay(e, "200.00", 0, NULL);
    const char *ra[] = { "refund", "--reference", d->refunded, "--amount", "50.00", "--json", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, ra), 0);
    if (r.status != 0)
        fail_msg("refund: exit %d: %s %s", r.status, r.out, r.err);
    kvt_result_free(&r);
    d->not_paid = kvr_pay(e, "1.51", 1, NULL);
    char *uri = kvt_path("virtual:%s/paperout?state=paper-out", e->dir);
    const char *x2[] = { "--printer", uri, NULL };
    d->cancelled = kvr_pay(e, "75.00", 4, x2);
    const char *x3[] = { "--timeout", "3", NULL };
    d->unknown = kvr_pay(e, "2.01", 6, x3);
    free(uri);
    free(items);
}

void kvr_day_free(kvr_day *d)
{
    free(d->paid);
    free(d->refunded);
    free(d->not_paid);
    free(d->cancelled);
    free(d->unknown);
    memset(d, 0, sizeof *d);
}

void kvr_replace_in_file(const char *path, const char *from, const char *to)
{
    unsigned char *buf;
    size_t len;
    assert_int_equal(kvt_read_file(path, &buf, &len), 0);
    char *at = memmem(buf, len, from, strlen(from));
    if (!at)
        fail_msg("%s: '%s' not found", path, from);
    size_t pre = (size_t)(at - (char *)buf), fl = strlen(from), tl = strlen(to);
    char *out = malloc(len - fl + tl + 1);
    assert_non_null(out);
    memcpy(out, buf, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, len - pre - fl);
    assert_int_equal(kvt_write_file(path, out, len - fl + tl), 0);
    free(out);
    free(buf);
}
