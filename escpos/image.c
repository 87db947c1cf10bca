/* image.c - rendered paper images: free, PNG encoding, thermal
 * degradation, QR scanning with zbar (loaded on first use). */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zbar.h>

#include "escpos/render.h"

void kv_image_free(kv_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    free(img);
}

/* ---- PNG ------------------------------------------------------------------------ */

struct png_sink {
    kv_write_fn write;
    void *ctx;
    int failed;
};

static void png_write_cb(png_structp png, png_bytep data, png_size_t len)
{
    struct png_sink *s = png_get_io_ptr(png);
    if (!s->failed && s->write(s->ctx, data, len) != 0)
        s->failed = 1;
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

kv_render_status kv_image_write_png(const kv_image *img, int bits, kv_write_fn write, void *ctx)
{
    if (!img || !write || (bits != 1 && bits != 8) || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    struct png_sink sink = { write, ctx, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png)
        return KV_RENDER_E_NOMEM;
    png_infop pinfo = png_create_info_struct(png);
    uint8_t *volatile row = NULL;
    if (!pinfo) {
        png_destroy_write_struct(&png, NULL);
        return KV_RENDER_E_NOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &pinfo);
        free(row);
        return sink.failed ? KV_RENDER_E_WRITE : KV_RENDER_E_PNG;
    }
    png_set_write_fn(png, &sink, png_write_cb, png_flush_cb);
    png_set_IHDR(png, pinfo, (png_uint_32)img->width, (png_uint_32)img->height, bits,
                 PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, bits == 1 ? PNG_FILTER_NONE : PNG_FILTER_UP);
    png_write_info(png, pinfo);
    size_t rb = bits == 8 ? (size_t)img->width : ((size_t)img->width + 7) / 8;
    row = malloc(rb);
    if (!row)
        png_error(png, "no memory");
    for (int y = 0; y < img->height && !sink.failed; y++) {
        const uint8_t *src = img->pixels + (size_t)y * img->width;
        if (bits == 8) {
            memcpy(row, src, rb);
        } else {
            memset(row, 0, rb);
            for (int x = 0; x < img->width; x++)
                if (src[x] >= 128)
                    row[x >> 3] |= (uint8_t)(0x80 >> (x & 7));
        }
        png_write_row(png, row);
    }
    if (!sink.failed)
        png_write_end(png, NULL);
    png_destroy_write_struct(&png, &pinfo);
    free(row);
    return sink.failed ? KV_RENDER_E_WRITE : KV_RENDER_OK;
}

/* ---- degradation ---------------------------------------------------------------- */

uint64_t kv_render_hash(const uint8_t *buf, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

kv_render_status kv_image_degrade(kv_image **out, const kv_image *img, uint64_t seed)
{
    if (!out || !img || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    int w = img->width, h = img->height;
    size_t n = (size_t)w * h;
    uint8_t *a = malloc(n), *b = malloc(n);
    if (!a || !b) {
        free(a);
        free(b);
        return KV_RENDER_E_NOMEM;
    }
    /* 1. dropout: 2% of the black dots do not print */
    uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = img->pixels[i];
        if (v < 128 && xorshift(&s) % 10000 < 200)
            v = 255;
        a[i] = v;
    }
    /* 2. 1-dot blur: 3x3 box */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int sum = 0;
            for (int dy = -1; dy <= 1; dy++) {
                int yy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy;
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx;
                    sum += a[(size_t)yy * w + xx];
                }
            }
            b[(size_t)y * w + x] = (uint8_t)(sum / 9);
        }
    }
    free(a);
    /* 3. 2 degree skew (rotation about the centre, bilinear) */
    double th = 2.0 * M_PI / 180.0, cs = cos(th), sn = sin(th);
    int W = (int)ceil(w * cs + h * sn) + 2, H = (int)ceil(w * sn + h * cs) + 2;
    kv_image *o = malloc(sizeof *o);
    uint8_t *p = malloc((size_t)W * H);
    if (!o || !p) {
        free(o);
        free(p);
        free(b);
        return KV_RENDER_E_NOMEM;
    }
    double cx = w / 2.0, cy = h / 2.0, CX = W / 2.0, CY = H / 2.0;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            double dx = x - CX, dy = y - CY;
            double sx = cs * dx + sn * dy + cx, sy = -sn * dx + cs * dy + cy;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            double v = 0;
            for (int k = 0; k < 4; k++) {
                int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                double wgt = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
                double pv = (xx < 0 || yy < 0 || xx >= w || yy >= h) ? 255 : b[(size_t)yy * w + xx];
                v += wgt * pv;
            }
            p[(size_t)y * W + x] = (uint8_t)(v + 0.5 > 255 ? 255 : v + 0.5);
        }
    }
    free(b);
    o->width = W;
    o->height = H;
    o->pixels = p;
    *out = o;
    return KV_RENDER_OK;
}

/* ---- scanning ------------------------------------------------------------------- */

typedef struct symlist {
    kv_qr_symbol *sym;   /* data malloc'd */
    int n, cap;
} symlist;

static void symlist_free(symlist *l)
{
    for (int i = 0; i < l->n; i++)
        free((void *)l->sym[i].data);
    free(l->sym);
    memset(l, 0, sizeof *l);
}

static int symlist_add(symlist *l, const char *d, size_t n, int x, int y)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 16;
        kv_qr_symbol *ns = realloc(l->sym, sizeof *ns * (size_t)nc);
        if (!ns)
            return -1;
        l->sym = ns;
        l->cap = nc;
    }
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return -1;
    memcpy(c, d, n);
    kv_qr_symbol *e = &l->sym[l->n++];
    memset(e, 0, sizeof *e);
    e->data = c;
    e->len = n;
    e->x = x;
    e->y = y;
    return 0;
}

/* zbar is loaded when a QR code is to be scanned, not at program start:
 * it pulls in X11, V4L and D-Bus libraries that every other kvitt command
 * would otherwise map at each start.  The table lives on the caller's
 * stack (no global state); dlopen of a loaded library is a refcount. */
typedef struct zbar_api {
    void *dl;
    zbar_image_scanner_t *(*scanner_create)(void);
    void (*scanner_destroy)(zbar_image_scanner_t *);
    int (*scanner_set_config)(zbar_image_scanner_t *, zbar_symbol_type_t, zbar_config_t, int);
    zbar_image_t *(*image_create)(void);
    void (*image_destroy)(zbar_image_t *);
    void (*image_set_format)(zbar_image_t *, unsigned long);
    void (*image_set_size)(zbar_image_t *, unsigned, unsigned);
    void (*image_set_data)(zbar_image_t *, const void *, unsigned long, zbar_image_cleanup_handler_t *);
    int (*scan_image)(zbar_image_scanner_t *, zbar_image_t *);
    const zbar_symbol_t *(*image_first_symbol)(const zbar_image_t *);
    const zbar_symbol_t *(*symbol_next)(const zbar_symbol_t *);
    zbar_symbol_type_t (*symbol_get_type)(const zbar_symbol_t *);
    const char *(*symbol_get_data)(const zbar_symbol_t *);
    unsigned int (*symbol_get_data_length)(const zbar_symbol_t *);
    unsigned int (*symbol_get_loc_size)(const zbar_symbol_t *);
    int (*symbol_get_loc_x)(const zbar_symbol_t *, unsigned);
    int (*symbol_get_loc_y)(const zbar_symbol_t *, unsigned);
} zbar_api;

static int zbar_load(zbar_api *z)
{
    memset(z, 0, sizeof *z);
    z->dl = dlopen("libzbar.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!z->dl)
        return -1;
#define ZSYM(field, name) \
    do { \
        *(void **)&z->field = dlsym(z->dl, name); \
        if (!z->field) { dlclose(z->dl); z->dl = NULL; return -1; } \
    } while (0)
    ZSYM(scanner_create, "zbar_image_scanner_create");
    ZSYM(scanner_destroy, "zbar_image_scanner_destroy");
    ZSYM(scanner_set_config, "zbar_image_scanner_set_config");
    ZSYM(image_create, "zbar_image_create");
    ZSYM(image_destroy, "zbar_image_destroy");
    ZSYM(image_set_format, "zbar_image_set_format");
    ZSYM(image_set_size, "zbar_image_set_size");
    ZSYM(image_set_data, "zbar_image_set_data");
    ZSYM(scan_image, "zbar_scan_image");
    ZSYM(image_first_symbol, "zbar_image_first_symbol");
    ZSYM(symbol_next, "zbar_symbol_next");
    ZSYM(symbol_get_type, "zbar_symbol_get_type");
    ZSYM(symbol_get_data, "zbar_symbol_get_data");
    ZSYM(symbol_get_data_length, "zbar_symbol_get_data_length");
    ZSYM(symbol_get_loc_size, "zbar_symbol_get_loc_size");
    ZSYM(symbol_get_loc_x, "zbar_symbol_get_loc_x");
    ZSYM(symbol_get_loc_y, "zbar_symbol_get_loc_y");
#undef ZSYM
    return 0;
}

/* One zbar pass over img scaled by an integer factor, with a white border.
 * Each symbol's top-left corner is recorded in img's coordinates. */
static kv_render_status scan_once(const zbar_api *z, const kv_image *img, int scale, symlist *out)
{
    const int B = 32;
    int W = img->width * scale + 2 * B, H = img->height * scale + 2 * B;
    uint8_t *p = malloc((size_t)W * H);
    if (!p)
        return KV_RENDER_E_NOMEM;
    memset(p, 255, (size_t)W * H);
    for (int y = 0; y < img->height * scale; y++) {
        const uint8_t *src = img->pixels + (size_t)(y / scale) * img->width;
        uint8_t *dst = p + (size_t)(y + B) * W + B;
        if (scale == 1) {
            memcpy(dst, src, (size_t)img->width);
        } else {
            for (int x = 0; x < img->width * scale; x++)
                dst[x] = src[x / scale];
        }
    }
    zbar_image_scanner_t *sc = z->scanner_create();
    zbar_image_t *zi = z->image_create();
    if (!sc || !zi) {
        if (sc) z->scanner_destroy(sc);
        if (zi) z->image_destroy(zi);
        free(p);
        return KV_RENDER_E_SCAN;
    }
    z->scanner_set_config(sc, 0, ZBAR_CFG_ENABLE, 0);
    z->scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    z->scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
    z->image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    z->image_set_size(zi, (unsigned)W, (unsigned)H);
    z->image_set_data(zi, p, (unsigned long)W * H, NULL);
    int n = z->scan_image(sc, zi);
    kv_render_status st = n < 0 ? KV_RENDER_E_SCAN : KV_RENDER_OK;
    if (n > 0) {
        for (const zbar_symbol_t *s = z->image_first_symbol(zi); s; s = z->symbol_next(s)) {
            if (z->symbol_get_type(s) != ZBAR_QRCODE)
                continue;
            int bx = 1 << 30, by = 0;
            unsigned nl = z->symbol_get_loc_size(s);
            for (unsigned k = 0; k < nl; k++) {  /* the corner nearest the top left */
                int lx = z->symbol_get_loc_x(s, k), ly = z->symbol_get_loc_y(s, k);
                if (bx == 1 << 30 || lx + ly < bx + by) {
                    bx = lx;
                    by = ly;
                }
            }
            if (bx == 1 << 30)
                bx = by = 0;
            if (symlist_add(out, z->symbol_get_data(s), z->symbol_get_data_length(s),
                            (bx - B) / scale, (by - B) / scale)) {
                st = KV_RENDER_E_NOMEM;
                break;
            }
        }
    }
    z->image_destroy(zi);
    z->scanner_destroy(sc);
    free(p);
    return st;
}

static int ink_at(const kv_image *img, int x, int y)
{
    return x >= 0 && y >= 0 && x < img->width && y < img->height &&
           img->pixels[(size_t)y * img->width + x] < 128;
}

/* Module size of a symbol whose top-left corner is near (x, y): the top
 * edge of the finder pattern there is a black run of 7 modules. */
static int module_at(const kv_image *img, int x, int y)
{
    for (int d = 0; d <= 4; d++)
        for (int dy = -d; dy <= d; dy++)
            for (int dx = -d; dx <= d; dx++) {
                int px = x + dx, py = y + dy;
                if (!ink_at(img, px, py) || ink_at(img, px - 1, py) || ink_at(img, px, py - 1))
                    continue;
                int run = 0;
                while (ink_at(img, px + run, py))
                    run++;
                return (run + 3) / 7;
            }
    return 0;
}

/* Stream order: top to bottom, then left to right (codes side by side). */
static int by_position(const void *a, const void *b)
{
    const kv_qr_symbol *p = a, *q = b;
    int dy = p->y - q->y;
    if (dy > 4 || dy < -4)
        return dy < 0 ? -1 : 1;
    return (p->x > q->x) - (p->x < q->x);
}

kv_render_status kv_image_scan_qr_at(const kv_image *img, int want, kv_qr_at_fn fn, void *ctx,
                                     int *count)
{
    if (!img || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    /* zbar misses very small modules (1 dot): a second pass at twice the
     * size finds those; the pass that found more symbols wins */
    zbar_api z;
    if (zbar_load(&z) != 0)
        return KV_RENDER_E_SCAN;
    symlist a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    kv_render_status st = scan_once(&z, img, 1, &a);
    if (st == KV_RENDER_OK && (want <= 0 || a.n < want) &&
        (size_t)img->width * img->height <= ((size_t)16 << 20))
        st = scan_once(&z, img, 2, &b);
    dlclose(z.dl);
    if (st != KV_RENDER_OK) {
        symlist_free(&a);
        symlist_free(&b);
        return st;
    }
    symlist *best = b.n > a.n ? &b : &a;
    if (best->n > 1)
        qsort(best->sym, (size_t)best->n, sizeof best->sym[0], by_position);
    for (int i = 0; i < best->n; i++) {
        best->sym[i].module = module_at(img, best->sym[i].x, best->sym[i].y);
        if (fn && fn(ctx, &best->sym[i]) != 0)
            break;
    }
    if (count)
        *count = best->n;
    symlist_free(&a);
    symlist_free(&b);
    return KV_RENDER_OK;
}

struct plain_scan {
    kv_qr_fn fn;
    void *ctx;
};

static int plain_cb(void *ctx, const kv_qr_symbol *s)
{
    struct plain_scan *p = ctx;
    return p->fn ? p->fn(p->ctx, s->data, s->len) : 0;
}

kv_render_status kv_image_scan_qr(const kv_image *img, int want, kv_qr_fn fn, void *ctx,
                                  int *count)
{
    struct plain_scan p = { fn, ctx };
    return kv_image_scan_qr_at(img, want, plain_cb, &p, count);
}
