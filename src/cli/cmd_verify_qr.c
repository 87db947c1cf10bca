/* cmd_verify_qr.c - `kvitt verify-qr FILE.bin [--expect DATA] [--degrade]
 * [--profile NAME]`: print and scan: render the stream, decode every QR
 * code with zbar, print the data. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/profile.h"
#include "escpos/render.h"
#include "src/cli/cli.h"
#include "src/cli/readfile.h"

struct scan {
    const char *expect;
    int mismatches;
};

static int on_qr(void *ctx, const uint8_t *data, size_t len)
{
    struct scan *s = ctx;
    fwrite(data, 1, len, stdout);
    fputc('\n', stdout);
    if (s->expect && (strlen(s->expect) != len || memcmp(s->expect, data, len) != 0))
        s->mismatches++;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt verify-qr FILE.bin [--expect DATA] [--degrade] [--profile NAME]\n\n"
               "Render the stream, decode every QR code in it with zbar and print each\n"
               "one's data on a line.  Exit 0 only when every QR code decodes (and equals\n"
               "DATA when --expect is given), else 1.\n"
               "  --expect DATA   the data each QR code must hold\n"
               "  --degrade       first simulate thermal printing: 2%% dot dropout (seeded\n"
               "                  from the file), 1-dot blur, 2 degree skew\n"
               "  --profile NAME  printer profile (default generic-80)\n");
}

int kv_cmd_verify_qr(int argc, char **argv, const kv_cli *cli)
{
    static const struct option lo[] = {
        { "expect", required_argument, NULL, 'e' },
        { "degrade", no_argument, NULL, 'd' },
        { "profile", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    kv_render_opts ro = KV_RENDER_OPTS_INIT;
    struct scan s = { NULL, 0 };
    int degrade = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "e:dp:h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': s.expect = optarg; break;
        case 'd': degrade = 1; break;
        case 'p':
            ro.profile = kv_profile_find(optarg);
            if (!ro.profile)
                return kv_usage_error("verify-qr", "unknown profile '%s'", optarg);
            break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("verify-qr", argc, argv);
        }
    }
    if (optind != argc - 1)
        return kv_usage_error("verify-qr", "expected one FILE");
    uint8_t *buf;
    size_t len;
    if (kv_read_input("verify-qr", argv[optind], &buf, &len) != 0)
        return KV_EXIT_USAGE;
    kv_renderer *r;
    kv_render_status st = kv_renderer_create(&r, &ro);
    if (st != KV_RENDER_OK) {
        free(buf);
        kv_err("verify-qr", "%s", kv_render_strerror(st));
        return st == KV_RENDER_E_FONT ? KV_EXIT_CONFIG : KV_EXIT_UNKNOWN;
    }
    kv_image *img = NULL;
    kv_render_info info;
    st = kv_render(r, buf, len, &img, &info);
    kv_renderer_destroy(r);
    uint64_t seed = kv_render_hash(buf, len);
    free(buf);
    if (st == KV_RENDER_OK && degrade) {
        kv_image *dg = NULL;
        st = kv_image_degrade(&dg, img, seed);
        kv_image_free(img);
        img = dg;
    }
    int found = 0;
    if (st == KV_RENDER_OK)
        st = kv_image_scan_qr(img, info.qr_printed > 0 ? info.qr_printed : 1, on_qr, &s, &found);
    kv_image_free(img);
    if (st != KV_RENDER_OK) {
        kv_err("verify-qr", "%s", kv_render_strerror(st));
        return KV_EXIT_UNKNOWN;
    }
    fflush(stdout);
    int ok = 1;
    if (found == 0) {
        kv_err("verify-qr", "no QR code could be decoded%s", degrade ? " after degrading" : "");
        ok = 0;
    } else if (found < info.qr_printed) {
        kv_err("verify-qr", "only %d of %d QR codes decoded", found, info.qr_printed);
        ok = 0;
    }
    if (info.qr_failed) {
        kv_err("verify-qr", "%d QR code(s) would not print (no data, too long or too wide)",
               info.qr_failed);
        ok = 0;
    }
    if (s.mismatches) {
        kv_err("verify-qr", "%d QR code(s) hold other data than expected", s.mismatches);
        ok = 0;
    }
    if (ok && cli && cli->verbose)
        kv_err("verify-qr", "%d QR code(s) decoded", found);
    return ok ? KV_EXIT_OK : KV_EXIT_NOT_PAID;
}
