/* cmd_render.c - `kvitt render FILE.bin -o FILE.png [--profile NAME]`:
 * draw an ESC/POS stream as the printed paper. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/profile.h"
#include "escpos/render.h"
#include "src/cli/cli.h"
#include "src/cli/readfile.h"

static int write_file(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt render FILE.bin -o FILE.png [--profile NAME] [--bits 1|8]\n"
               "                    [--font-a PATH] [--font-b PATH]\n\n"
               "Draw an ESC/POS byte stream as the paper the printer would produce, at the\n"
               "profile's resolution and width (FILE '-' reads standard input, -o - writes\n"
               "the PNG to standard output).  Same bytes, same PNG.\n"
               "  -o, --output FILE  the PNG to write (required)\n"
               "  --profile NAME     printer profile (default generic-80)\n"
               "  --bits 1|8         black-and-white or greyscale PNG (default 8)\n"
               "  --font-a PATH      font A (default %s)\n"
               "  --font-b PATH      font B (default %s)\n", KV_RENDER_FONT_A, KV_RENDER_FONT_B);
}

int kv_cmd_render(int argc, char **argv, const kv_cli *cli)
{
    static const struct option lo[] = {
        { "output", required_argument, NULL, 'o' },
        { "profile", required_argument, NULL, 'p' },
        { "bits", required_argument, NULL, 'b' },
        { "font-a", required_argument, NULL, 'A' },
        { "font-b", required_argument, NULL, 'B' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    kv_render_opts ro = KV_RENDER_OPTS_INIT;
    const char *outpath = NULL;
    int bits = 8, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "o:p:b:h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': outpath = optarg; break;
        case 'p':
            ro.profile = kv_profile_find(optarg);
            if (!ro.profile)
                return kv_usage_error("render", "unknown profile '%s'", optarg);
            break;
        case 'b':
            if (strcmp(optarg, "1") && strcmp(optarg, "8"))
                return kv_usage_error("render", "--bits takes 1 or 8");
            bits = atoi(optarg);
            break;
        case 'A': ro.font_a = optarg; break;
        case 'B': ro.font_b = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("render", argc, argv);
        }
    }
    if (optind != argc - 1)
        return kv_usage_error("render", "expected one FILE");
    if (!outpath)
        return kv_usage_error("render", "-o FILE.png is required");
    uint8_t *buf;
    size_t len;
    if (kv_read_input("render", argv[optind], &buf, &len) != 0)
        return KV_EXIT_USAGE;
    kv_renderer *r;
    kv_render_status st = kv_renderer_create(&r, &ro);
    if (st != KV_RENDER_OK) {
        free(buf);
        kv_err("render", "%s", kv_render_strerror(st));
        return st == KV_RENDER_E_FONT ? KV_EXIT_CONFIG : KV_EXIT_UNKNOWN;
    }
    kv_image *img = NULL;
    kv_render_info info;
    st = kv_render(r, buf, len, &img, &info);
    kv_renderer_destroy(r);
    free(buf);
    if (st != KV_RENDER_OK) {
        kv_err("render", "%s", kv_render_strerror(st));
        return KV_EXIT_UNKNOWN;
    }
    FILE *f = kv_open_out("render", outpath);
    if (!f) {
        kv_image_free(img);
        return KV_EXIT_USAGE;
    }
    st = kv_image_write_png(img, bits, write_file, f);
    int closed = kv_close_out("render", f, outpath);
    if (cli && !cli->quiet) {
        if (info.unknown)
            kv_err("render", "note: %d unknown command(s) skipped (see 'kvitt dump')", info.unknown);
        if (info.unprinted)
            kv_err("render", "note: %zu bytes of text were never printed (no LF after them)",
                   info.unprinted);
        if (info.qr_failed)
            kv_err("render", "note: %d QR code(s) would not print", info.qr_failed);
        if (info.clipped)
            kv_err("render", "note: the paper was cut short at %d dots", img->height);
    }
    kv_image_free(img);
    if (st != KV_RENDER_OK || closed != 0) {
        if (st != KV_RENDER_OK)
            kv_err("render", "%s: %s", outpath, kv_render_strerror(st));
        return KV_EXIT_USAGE;
    }
    return KV_EXIT_OK;
}
