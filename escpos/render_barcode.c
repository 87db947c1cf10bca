/* render_barcode.c - draw GS k 1D symbols (CODE128, EAN-13, EAN-8, UPC-A,
 * CODE39) with their HRI text. */
#include <stdlib.h>
#include <string.h>

#include "escpos/render_int.h"

/* ---- 1D barcodes --------------------------------------------------------------- */

static const char *const c128[107] = {
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112"
};

typedef struct bars {
    uint8_t m[4096];   /* modules, 1 = bar */
    int n;
    int half;          /* m[] holds half modules (CODE39) */
    char hri[300];
    int nh;
} bars;

static int put_pattern(bars *b, const char *widths)
{
    int black = 1;
    for (const char *p = widths; *p; p++) {
        int w = *p - '0';
        for (int k = 0; k < w; k++) {
            if (b->n >= (int)sizeof b->m)
                return -1;
            b->m[b->n++] = (uint8_t)black;
        }
        black = !black;
    }
    return 0;
}

static void hri_add(bars *b, int c)
{
    if (b->nh < (int)sizeof b->hri - 1 && c >= 0x20 && c < 0x7f)
        b->hri[b->nh++] = (char)c;
}

static int encode_code128(bars *b, const uint8_t *d, size_t n)
{
    int vals[300], nv = 0;
    int set = 0;  /* 1 A, 2 B, 3 C */
    size_t i = 0;
    if (n < 2 || d[0] != '{' || (d[1] != 'A' && d[1] != 'B' && d[1] != 'C'))
        return -1;
    while (i < n) {
        if (nv >= 290)
            return -1;
        if (d[i] == '{') {
            if (i + 1 >= n)
                return -1;
            int c = d[i + 1];
            i += 2;
            switch (c) {
            case 'A': vals[nv++] = set == 0 ? 103 : 101; set = 1; break;
            case 'B': vals[nv++] = set == 0 ? 104 : 100; set = 2; break;
            case 'C': vals[nv++] = set == 0 ? 105 : 99; set = 3; break;
            case 'S': if (set == 3 || set == 0) return -1; vals[nv++] = 98; break;
            case '1': if (set == 0) return -1; vals[nv++] = 102; break;
            case '2': if (set == 0 || set == 3) return -1; vals[nv++] = 97; break;
            case '3': if (set == 0 || set == 3) return -1; vals[nv++] = 96; break;
            case '4': if (set == 0 || set == 3) return -1; vals[nv++] = set == 1 ? 101 : 100; break;
            case '{':
                if (set == 1 || set == 2) { vals[nv++] = '{' - 32; hri_add(b, '{'); break; }
                return -1;
            default: return -1;
            }
            continue;
        }
        int c = d[i++];
        if (set == 1) {
            if (c >= 0x20 && c <= 0x5F) vals[nv++] = c - 0x20;
            else if (c < 0x20) vals[nv++] = c + 64;
            else return -1;
            hri_add(b, c);
        } else if (set == 2) {
            if (c >= 0x20 && c <= 0x7F) vals[nv++] = c - 0x20;
            else return -1;
            hri_add(b, c);
        } else {
            if (c > 99) return -1;
            vals[nv++] = c;
            hri_add(b, '0' + c / 10);
            hri_add(b, '0' + c % 10);
        }
    }
    if (nv < 2)
        return -1;
    long sum = vals[0];
    for (int k = 1; k < nv; k++)
        sum += (long)k * vals[k];
    vals[nv++] = (int)(sum % 103);
    vals[nv++] = 106;
    for (int k = 0; k < nv; k++)
        if (put_pattern(b, c128[vals[k]]))
            return -1;
    return 0;
}

static const char *const ean_l[10] = {
    "0001101", "0011001", "0010011", "0111101", "0100011",
    "0110001", "0101111", "0111011", "0110111", "0001011"
};
static const char *const ean_par[10] = {
    "LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
    "LGGLLG", "LGGGLG", "LGLGLL", "LGLGGL", "LGGLGL"
};

static void put_bits(bars *b, const char *s, int invert, int reverse)
{
    int len = (int)strlen(s);
    for (int k = 0; k < len; k++) {
        int c = reverse ? s[len - 1 - k] : s[k];
        int v = (c == '1') ^ invert;
        if (b->n < (int)sizeof b->m)
            b->m[b->n++] = (uint8_t)v;
    }
}

static int ean_check(const int *dig, int n)
{
    /* weights 3,1,3,... from the rightmost data digit */
    int sum = 0;
    for (int k = 0; k < n; k++)
        sum += dig[n - 1 - k] * ((k % 2 == 0) ? 3 : 1);
    return (10 - sum % 10) % 10;
}

static int encode_ean(bars *b, const uint8_t *d, size_t n, int kind /* 13, 8, 12 (UPC-A) */)
{
    int dig[13], nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9' || nd >= 13)
            return -1;
        dig[nd++] = d[i] - '0';
    }
    if (kind == 12) {
        /* UPC-A = EAN-13 with a leading 0 */
        if (nd != 11 && nd != 12)
            return -1;
        memmove(dig + 1, dig, sizeof(int) * (size_t)nd);
        dig[0] = 0;
        nd++;
        kind = 13;
    }
    int want = kind;
    if (nd == want - 1) {
        dig[nd] = ean_check(dig, nd);
        nd++;
    }
    if (nd != want)
        return -1;
    for (int k = 0; k < nd; k++)
        hri_add(b, '0' + dig[k]);
    put_bits(b, "101", 0, 0);
    if (kind == 13) {
        const char *par = ean_par[dig[0]];
        for (int k = 1; k <= 6; k++)
            put_bits(b, ean_l[dig[k]], par[k - 1] == 'G', par[k - 1] == 'G');
        put_bits(b, "01010", 0, 0);
        for (int k = 7; k <= 12; k++)
            put_bits(b, ean_l[dig[k]], 1, 0);
    } else {
        for (int k = 0; k < 4; k++)
            put_bits(b, ean_l[dig[k]], 0, 0);
        put_bits(b, "01010", 0, 0);
        for (int k = 4; k < 8; k++)
            put_bits(b, ean_l[dig[k]], 1, 0);
    }
    put_bits(b, "101", 0, 0);
    return 0;
}

/* CODE39: 9 elements (bar, space, ...), n narrow / w wide; 3 are wide. */
static const char c39_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. *$/+%";
static const char *const c39_pat[44] = {
    "nnnwwnwnn", "wnnwnnnnw", "nnwwnnnnw", "wnwwnnnnn", "nnnwwnnnw", "wnnwwnnnn",
    "nnwwwnnnn", "nnnwnnwnw", "wnnwnnwnn", "nnwwnnwnn", "wnnnnwnnw", "nnwnnwnnw",
    "wnwnnwnnn", "nnnnwwnnw", "wnnnwwnnn", "nnwnwwnnn", "nnnnnwwnw", "wnnnnwwnn",
    "nnwnnwwnn", "nnnnwwwnn", "wnnnnnnww", "nnwnnnnww", "wnwnnnnwn", "nnnnwnnww",
    "wnnnwnnwn", "nnwnwnnwn", "nnnnnnwww", "wnnnnnwwn", "nnwnnnwwn", "nnnnwnwwn",
    "wwnnnnnnw", "nwwnnnnnw", "wwwnnnnnn", "nwnnwnnnw", "wwnnwnnnn", "nwwnwnnnn",
    "nwnnnnwnw", "wwnnnnwnn", "nwwnnnwnn", "nwnnwnwnn", "nwnwnwnnn", "nwnwnnnwn",
    "nwnnnwnwn", "nnnwnwnwn"
};

/* Modules here are narrow units; a wide element is 5 half-units, so the
 * pattern is built at half-module resolution (wide:narrow = 2.5:1). */
static int put_c39(bars *b, int ch)
{
    const char *at = strchr(c39_chars, ch);
    if (!ch || !at)
        return -1;
    const char *pat = c39_pat[at - c39_chars];
    for (int k = 0; k < 9; k++) {
        int w = pat[k] == 'w' ? 5 : 2;
        for (int j = 0; j < w; j++) {
            if (b->n >= (int)sizeof b->m)
                return -1;
            b->m[b->n++] = (uint8_t)((k & 1) == 0);
        }
    }
    for (int j = 0; j < 2; j++) {  /* inter-character gap: one narrow space */
        if (b->n >= (int)sizeof b->m)
            return -1;
        b->m[b->n++] = 0;
    }
    return 0;
}

static int encode_code39(bars *b, const uint8_t *d, size_t n)
{
    /* the printer adds the start/stop '*' when the data lacks them */
    if (n && d[0] == '*')
        d++, n--;
    if (n && d[n - 1] == '*')
        n--;
    if (n == 0 || put_c39(b, '*'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '*' || put_c39(b, d[i]))
            return -1;
        hri_add(b, d[i]);
    }
    if (put_c39(b, '*'))
        return -1;
    b->n -= 2;  /* no gap after the stop character */
    b->half = 1;
    return 0;
}

static void draw_hri(kv_renderer *r, const kv_dec_state *st, const bars *b)
{
    int f = st->bc_hri_font == 1 ? 1 : 0;
    font *fo = &r->fonts[f];
    int w = b->nh * fo->cw;
    int x = kv__r_align_x(r, st, st->align, w);
    kv__r_ensure_rows(r, r->y + fo->ch);
    for (int k = 0; k < b->nh; k++) {
        item it;
        memset(&it, 0, sizeof it);
        it.kind = IT_CHAR;
        it.cp = (uint8_t)b->hri[k];
        it.font = f;
        it.wm = it.hm = 1;
        it.w = fo->cw;
        it.h = fo->ch;
        kv__r_draw_char(r, &it, x + k * fo->cw, r->y);
    }
    kv__r_advance(r, fo->ch);
}

void kv__r_draw_barcode(kv_renderer *r, const kv_dec_state *st, const kv_dec_cmd *c)
{
    bars *b = calloc(1, sizeof *b);
    if (!b) {
        r->oom = 1;
        return;
    }
    int rc;
    switch (c->p[0]) {
    case 73: rc = encode_code128(b, c->data, c->datalen); break;
    case 67: rc = encode_ean(b, c->data, c->datalen, 13); break;
    case 68: rc = encode_ean(b, c->data, c->datalen, 8); break;
    case 65: rc = encode_ean(b, c->data, c->datalen, 12); break;
    case 69: rc = encode_code39(b, c->data, c->datalen); break;
    default: rc = -1; break;
    }
    int mw = st->bc_width;
    int W = b->half ? (b->n * mw + 1) / 2 : b->n * mw;
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    if (rc || W > aw || b->n == 0) {
        r->info.barcodes_failed++;
        free(b);
        return;
    }
    if (st->bc_hri & 1)
        draw_hri(r, st, b);
    int x = kv__r_align_x(r, st, st->align, W);
    kv__r_ensure_rows(r, r->y + st->bc_height);
    for (int k = 0; k < b->n; k++) {
        if (!b->m[k])
            continue;
        if (b->half)  /* half modules: dots [k*mw/2, (k+1)*mw/2) */
            kv__r_fill(r, x + k * mw / 2, r->y, (k + 1) * mw / 2 - k * mw / 2, st->bc_height, 0);
        else
            kv__r_fill(r, x + k * mw, r->y, mw, st->bc_height, 0);
    }
    kv__r_advance(r, st->bc_height);
    if (st->bc_hri & 2)
        draw_hri(r, st, b);
    r->info.barcodes++;
    free(b);
}

