/*
 * web_assets.h - the cashier page's files (the files in src/serve/web/), built into the
 * program.  Its C file is GENERATED at build time from those files by
 * src/serve/web/gen-assets.sh (BUILD/gen/web_assets.c, not committed);
 * tests/test_cashier.c checks that it matches the sources byte for byte.
 *
 * The table is constant data: no state, safe from any thread.
 */
#ifndef KV_SERVE_WEB_ASSETS_H
#define KV_SERVE_WEB_ASSETS_H

#include <stddef.h>

typedef struct kv_web_asset {
    const char *name;            /* file name, e.g. "app.js" */
    const char *type;            /* Content-Type */
    const unsigned char *data;   /* the file's bytes (static) */
    size_t len;
} kv_web_asset;

/* The file called name, or NULL.  Borrowed, static. */
const kv_web_asset *kv_web_asset_find(const char *name);

/* Number of files and the i-th one (NULL past the end). */
size_t kv_web_asset_count(void);
const kv_web_asset *kv_web_asset_at(size_t i);

#endif
