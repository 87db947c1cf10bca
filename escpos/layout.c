/* layout.c - word wrap, two-column lines, rules and money formatting. */
#include <string.h>

#include "escpos/layout.h"

static const char *const lang_names[KV_LANG_COUNT] = { "nb", "da", "fi", "sv", "en" };

int kv_lang_from_name(kv_lang *out, const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "no") == 0 || strcmp(name, "nb-NO") == 0) {
        *out = KV_LANG_NB;
        return 0;
    }
    for (int i = 0; i < KV_LANG_COUNT; i++) {
        if (strcmp(name, lang_names[i]) == 0) {
            *out = (kv_lang)i;
            return 0;
        }
    }
    return -1;
}

const char *kv_lang_name(kv_lang l)
{
    return (unsigned)l < KV_LANG_COUNT ? lang_names[l] : "?";
}

unsigned kv_layout_columns(const kv_escpos *e)
{
    kv_style st;
    kv_escpos_current_style(&st, e);
    return kv_profile_columns(kv_escpos_profile(e), st.font, st.width);
}

static kv_escpos_status spaces(kv_escpos *e, size_t n)
{
    static const char sp[] = "                                                                ";
    while (n) {
        size_t k = n < sizeof sp - 1 ? n : sizeof sp - 1;
        kv_escpos_text_n(e, sp, k);
        n -= k;
    }
    return kv_escpos_status_get(e);
}

static kv_escpos_status wrap_paragraph(kv_escpos *e, const char *s, size_t len, size_t cols)
{
    size_t i = 0;
    for (;;) {
        while (i < len && s[i] == ' ')   /* no leading spaces on a line */
            i++;
        if (i >= len)
            break;
        size_t rest = len - i;
        if (kv_utf8_columns(s + i, rest) <= cols) {
            kv_escpos_text_n(e, s + i, rest);
            kv_escpos_newline(e);
            break;
        }
        /* Longest prefix that fits; break at its last space if any. */
        size_t fit = kv_utf8_prefix(s + i, rest, cols);
        size_t brk = fit;
        if (s[i + fit] != ' ') {
            size_t j = fit;
            while (j > 0 && s[i + j - 1] != ' ')
                j--;
            if (j > 0)
                brk = j;
        }
        size_t end = brk;
        while (end > 0 && s[i + end - 1] == ' ')
            end--;
        kv_escpos_text_n(e, s + i, end);
        kv_escpos_newline(e);
        i += brk;
    }
    return kv_escpos_status_get(e);
}

kv_escpos_status kv_layout_wrap(kv_escpos *e, const char *utf8)
{
    if (!utf8)
        return kv_escpos_status_get(e);
    size_t cols = kv_layout_columns(e);
    if (cols == 0)
        cols = 1;
    const char *p = utf8;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0 && nl)
            kv_escpos_newline(e);   /* an empty paragraph is a blank line */
        else if (n)
            wrap_paragraph(e, p, n, cols);
        if (!nl)
            break;
        p = nl + 1;
    }
    return kv_escpos_status_get(e);
}

kv_escpos_status kv_layout_two_col(kv_escpos *e, const char *left, const char *right)
{
    size_t cols = kv_layout_columns(e);
    size_t ll = left ? strlen(left) : 0, rl = right ? strlen(right) : 0;
    size_t rc = kv_utf8_columns(right ? right : "", rl);
    if (rc > cols) {
        rl = kv_utf8_prefix(right, rl, cols);
        rc = cols;
    }
    size_t room = rc + 1 <= cols ? cols - rc - 1 : 0;
    size_t lc = kv_utf8_columns(left ? left : "", ll);
    if (lc > room) {
        ll = kv_utf8_prefix(left, ll, room);
        lc = room;
    }
    size_t pad = cols - lc - rc;
    char line[512];
    if (ll + pad + rl <= sizeof line) {
        /* One transcoding call for the whole line. */
        if (ll)
            memcpy(line, left, ll);
        memset(line + ll, ' ', pad);
        if (rl)
            memcpy(line + ll + pad, right, rl);
        kv_escpos_text_n(e, line, ll + pad + rl);
    } else {
        kv_escpos_text_n(e, left, ll);
        spaces(e, pad);
        kv_escpos_text_n(e, right, rl);
    }
    return kv_escpos_newline(e);
}

kv_escpos_status kv_layout_rule(kv_escpos *e, char ch)
{
    if (ch < 0x21 || ch > 0x7E)
        ch = '-';
    char line[256];
    size_t cols = kv_layout_columns(e);
    if (cols > sizeof line)
        cols = sizeof line;
    memset(line, ch, cols);
    kv_escpos_text_n(e, line, cols);
    return kv_escpos_newline(e);
}

/* ---- money ------------------------------------------------------------------ */

int kv_money_parse(int64_t *out, const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t units = 0;
    size_t i = 0, digits = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (++digits > 9)
            return -1;
        units = units * 10 + (s[i] - '0');
    }
    if (digits == 0)
        return -1;
    int64_t cents = 0;
    if (s[i] == '.' || s[i] == ',') {
        i++;
        size_t d = 0;
        for (; s[i] >= '0' && s[i] <= '9'; i++) {
            if (++d > 2)
                return -1;
            cents = cents * 10 + (s[i] - '0');
        }
        if (d == 0)
            return -1;
        if (d == 1)
            cents *= 10;
    }
    if (s[i] != '\0')
        return -1;
    *out = units * 100 + cents;
    return 0;
}

int kv_currency_known(const char *code)
{
    static const char *const known[] = { "NOK", "DKK", "SEK", "EUR" };
    if (!code)
        return 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(code, known[i]) == 0)
            return 1;
    return 0;
}

/* Write the integer part with a thousands separator into out (reversed
 * build, no locale). */
static size_t group(char *out, uint64_t v, const char *sep)
{
    char tmp[40];
    size_t n = 0, seplen = strlen(sep);
    int k = 0;
    do {
        if (k && k % 3 == 0)
            for (size_t j = seplen; j > 0; j--)
                tmp[n++] = sep[j - 1];
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
        k++;
    } while (v);
    for (size_t j = 0; j < n; j++)
        out[j] = tmp[n - 1 - j];
    out[n] = '\0';
    return n;
}

/* Append NUL-terminated s at *o (no bounds: the caller's buffer is sized
 * for the longest possible result). */
static void put(char **o, const char *s)
{
    while (*s)
        *(*o)++ = *s++;
}

/* Hand-written rather than snprintf: this runs for every receipt line and
 * must not depend on the locale. */
int kv_money_format(char *out, size_t outsz, int64_t minor, const char *currency, kv_lang lang)
{
    if (!currency || (unsigned)lang >= KV_LANG_COUNT)
        return -1;
    for (int i = 0; i < 3; i++)
        if (currency[i] < 'A' || currency[i] > 'Z')
            return -1;
    if (currency[3] != '\0')
        return -1;
    int neg = minor < 0;
    uint64_t v = neg ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int is_kr = !strcmp(currency, "NOK") || !strcmp(currency, "SEK") || !strcmp(currency, "DKK");
    int is_eur = !strcmp(currency, "EUR");
    const char *tsep = " ", *dsep = ",";
    if (lang == KV_LANG_DA)
        tsep = ".";
    else if (lang == KV_LANG_EN) {
        tsep = ",";
        dsep = ".";
    }
    char num[48], *n = num;
    n += group(num, v / 100, tsep);
    *n++ = *dsep;
    *n++ = (char)('0' + (v % 100) / 10);
    *n++ = (char)('0' + v % 10);
    *n = '\0';
    char tmp[80], *o = tmp;
    if (neg)
        *o++ = '-';
    if (lang == KV_LANG_EN) {
        if (is_eur) {
            put(&o, "\xe2\x82\xac");
        } else {
            put(&o, currency);
            *o++ = ' ';
        }
        put(&o, num);
    } else {
        put(&o, num);
        *o++ = ' ';
        if (is_eur)
            put(&o, "\xe2\x82\xac");
        else if (is_kr && lang != KV_LANG_FI)
            put(&o, lang == KV_LANG_DA && !strcmp(currency, "DKK") ? "kr." : "kr");
        else
            put(&o, currency);
    }
    size_t len = (size_t)(o - tmp);
    if (len + 1 > outsz)
        return -1;
    memcpy(out, tmp, len);
    out[len] = '\0';
    return (int)len;
}
