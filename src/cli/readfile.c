/* readfile.c - whole-file input for dump, render and verify-qr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/cli.h"
#include "src/cli/readfile.h"

#define KV_READ_MAX ((size_t)256 << 20)

int kv_read_input(const char *cmd, const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        kv_err(cmd, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        if (n == cap) {
            if (cap >= KV_READ_MAX) {
                kv_err(cmd, "%s is larger than %zu bytes", path, KV_READ_MAX);
                free(b);
                b = NULL;
                break;
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                kv_err(cmd, "out of memory reading %s", path);
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                kv_err(cmd, "cannot read %s: %s", path, strerror(errno));
                free(b);
                b = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!b)
        return -1;
    *buf = b;
    *len = n;
    return 0;
}
