/* cmd_verify_qr.c - `kvitt verify-qr FILE.bin [--expect DATA]
 * [--expect-count N] [--degrade] [--profile NAME]`: print and scan: render
 * the stream, decode every QR code with zbar, print the data in stream
 * order. */
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
    int small;      /* raster codes with modules under 3 dots */
    int index;
};

static int on_qr(void *ctx, const kv_qr_symbol *q)
{
    struct scan *s = ctx;
    s->index++;
    fwrite(q->data, 1, q->len, stdout);
    fputc('\n', stdout);
    if (s->expect && (strlen(s->expect) != q->len || memcmp(s->expect, q->data, q->len) != 0))
        s->mismatches++;
    if (q->module > 0 && q->module < 3) {
        kv_err("verify-qr", "warning: QR code %d: modules of %d dot%s, smaller than 3 dots "
               "(phones read it badly once printed)", s->index, q->module, q->module == 1 ? "" : "s");
        s->small++;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt verify-qr FILE.bin [--expect DATA] [--expect-count N] [--degrade]\n"
               "                 [--profile NAME]\n\n"
               "Render the stream, decode every QR code in it with zbar and print each\n"
               "one's data on a line, in the order the stream prints them.  Exit 0 only\n"
               "when every QR code decodes (and equals DATA when --expect is given), else\n"
               "1.  QR model 1 and Micro QR codes are reported as not verifiable (exit 1).\n"
               "A code with modules under 3 dots gets a warning.\n"
               "  --expect DATA   the data each QR code must hold\n"
               "  --expect-count N  exactly N codes must decode (for raster codes, which\n"
               "                  the stream does not count itself)\n"
               "  --degrade       first simulate thermal printing: 2%% dot dropout (seeded\n"
               "                  from the file), 1-dot blur, 2 degree skew\n"
               "  --profile NAME  printer profile (default generic-80)\n");
}

int kv_cmd_verify_qr(int argc, char **argv, const kv_cli *cli)
{
    static const struct option lo[] = {
        { "expect", required_argument, NULL, 'e' },
        { "expect-count", required_argument, NULL, 'n' },
        { "degrade", no_argument, NULL, 'd' },
        { "profile", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    kv_render_opts ro = KV_RENDER_OPTS_INIT;
    struct scan s = { NULL, 0, 0, 0 };
    int degrade = 0, c, expect_count = -1;
    optind = 0;
    while ((c = getopt_long(argc, argv, "e:n:dp:h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': s.expect = optarg; break;
        case 'n': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || v < 0 || v > 10000)
                return kv_usage_error("verify-qr", "--expect-count: '%s' is not a count (0..10000)",
                                      optarg);
            expect_count = (int)v;
            break;
        }
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
        st = kv_image_scan_qr_at(img, expect_count > 0 ? expect_count
                                     : info.qr_printed > 0 ? info.qr_printed : 1, on_qr, &s, &found);
    kv_image_free(img);
    if (st != KV_RENDER_OK) {
        kv_err("verify-qr", "%s", kv_render_strerror(st));
        return KV_EXIT_UNKNOWN;
    }
    fflush(stdout);
    int ok = 1;
    if (info.qr_small_module && !s.small)
        kv_err("verify-qr", "warning: %d native QR code(s) with modules smaller than 3 dots "
               "(GS ( k function 167)", info.qr_small_module);
    if (info.qr_unverifiable - info.qr_micro > 0) {
        kv_err("verify-qr", "%d QR code(s) of model 1 (GS ( k function 165, n1 = 49): not "
               "verifiable here (no scanner here reads model 1; many printers print model 2)",
               info.qr_unverifiable - info.qr_micro);
        ok = 0;
    }
    if (info.qr_micro) {
        kv_err("verify-qr", "%d Micro QR code(s) (GS ( k function 165, n1 = 51): not verifiable "
               "here (no scanner here reads Micro QR; few printers print it)", info.qr_micro);
        ok = 0;
    }
    if (expect_count >= 0 && found != expect_count) {
        kv_err("verify-qr", "%d QR code(s) decoded, expected %d", found, expect_count);
        ok = 0;
    } else if (found == 0 && info.qr_unverifiable) {
        /* reported above */
    } else if (found == 0) {
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
