/* fuzz_render.c - libFuzzer target: render arbitrary bytes to an image
 * (and, for small images, to a PNG) on 58 mm paper (384 dots).  The
 * paper length is capped (768 dots) so one input cannot exhaust memory.
 * fuzz-sources: escpos
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/render.h"

static kv_renderer *renderer;

static int sink(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!renderer) {
        kv_render_opts o = KV_RENDER_OPTS_INIT;
        /* a narrow paper, capped: fast inputs, no memory blow-up */
        o.profile = kv_profile_find("generic-58");
        o.max_height = 768;
        if (kv_renderer_create(&renderer, &o) != KV_RENDER_OK)
            abort();
    }
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    kv_image *img = NULL;
    kv_render_info info;
    if (kv_render(renderer, buf, size, &img, &info) == KV_RENDER_OK) {
        if (img->width <= 0 || img->height <= 0 || img->height > 768)
            abort();
        if (img->height <= 256) {
            size_t n = 0;
            kv_image_write_png(img, size & 1 ? 1 : 8, sink, &n);
        }
        kv_image_free(img);
    }
    free(buf);
    return 0;
}
