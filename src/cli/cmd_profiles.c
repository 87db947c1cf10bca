/* cmd_profiles.c - `kvitt profiles`: list the printer profiles. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "escpos/profile.h"
#include "src/cli/cli.h"

static const char usage[] =
    "usage: kvitt profiles [--json]\n"
    "\n"
    "List the printer profiles that --profile takes: paper width in dots,\n"
    "resolution, columns for font A and B, code pages with their ESC t numbers,\n"
    "native QR, cutter (and lines fed before cutting) and cash drawer.\n"
    "--json prints a JSON array instead of a table.\n";

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

int kv_cmd_profiles(int argc, char **argv, const kv_cli *cli)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int json = 0, c;
    (void)cli;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("profiles", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("profiles", "unexpected argument '%s'", argv[optind]);
    const kv_profile *p;
    if (json) {
        printf("[\n");
        for (size_t i = 0; (p = kv_profile_at(i)); i++) {
            printf("  {\"name\": ");
            print_json_string(p->name);
            printf(", \"description\": ");
            print_json_string(p->description);
            printf(", \"dots\": %u, \"dpi\": %u, \"paper_mm\": %u, \"columns\": {\"A\": %u, "
                   "\"B\": %u}, \"codepages\": {",
                   p->dots, p->dpi, p->paper_mm, p->columns_a, p->columns_b);
            int first = 1;
            for (int k = 0; k < KV_CP_COUNT; k++) {
                if (p->codepage_number[k] < 0)
                    continue;
                printf("%s\"%s\": %d", first ? "" : ", ", kv_codepage_name((kv_codepage)k),
                       p->codepage_number[k]);
                first = 0;
            }
            printf("}, \"codepage\": \"%s\", \"native_qr\": %s, \"barcodes\": %s, "
                   "\"cutter\": %s, \"cut_feed_lines\": %u, \"drawer\": %s}%s\n",
                   kv_codepage_name(p->codepage), p->native_qr ? "true" : "false",
                   p->barcodes ? "true" : "false", p->cutter ? "true" : "false",
                   p->cut_feed_lines, p->drawer ? "true" : "false",
                   kv_profile_at(i + 1) ? "," : "");
        }
        printf("]\n");
        return KV_EXIT_OK;
    }
    printf("%-18s %5s %4s %5s %-34s %-9s %-8s %-6s %s\n", "PROFILE", "DOTS", "DPI", "COLS",
           "CODE PAGE:ESC t NUMBER", "NATIVE-QR", "CUTTER", "DRAWER", "DESCRIPTION");
    for (size_t i = 0; (p = kv_profile_at(i)); i++) {
        char cps[64] = "", cols[16], cut[16];
        size_t n = 0;
        for (int k = 0; k < KV_CP_COUNT; k++) {
            if (p->codepage_number[k] < 0)
                continue;
            const char *name = kv_codepage_name((kv_codepage)k);
            while (*name >= 'A' && *name <= 'Z')
                name++;
            int w = snprintf(cps + n, sizeof cps - n, "%s%s:%d%s", n ? " " : "", name,
                             p->codepage_number[k], p->codepage == (kv_codepage)k ? "*" : "");
            if (w > 0 && (size_t)w < sizeof cps - n)
                n += (size_t)w;
        }
        snprintf(cols, sizeof cols, "%u/%u", p->columns_a, p->columns_b);
        if (p->cutter)
            snprintf(cut, sizeof cut, "yes+%u", p->cut_feed_lines);
        else
            snprintf(cut, sizeof cut, "no");
        printf("%-18s %5u %4u %5s %-34s %-9s %-8s %-6s %s\n", p->name, p->dots, p->dpi, cols, cps,
               p->native_qr ? "yes" : "no", cut, p->drawer ? "yes" : "no", p->description);
    }
    printf("\nCode pages: 437 = PC437, 850 = PC850, 858 = PC858 (with the euro sign), "
           "865 = PC865 (Nordic),\n1252 = WPC1252; * = the page used by default. "
           "COLS = characters per line, font A/B.\n");
    return KV_EXIT_OK;
}
