/* cmd_dump.c - `kvitt dump [--json] [--profile NAME] FILE.bin`: disassemble
 * an ESC/POS stream, one line (or JSON object) per command. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/dump.h"
#include "escpos/profile.h"
#include "src/cli/cli.h"
#include "src/cli/readfile.h"

static int write_stdout(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt dump [--json] [--profile NAME] FILE.bin\n\n"
               "Disassemble an ESC/POS byte stream (FILE '-' reads standard input).\n"
               "Text: one line per command: offset, hex, command, name, parameters, and\n"
               "text decoded in the active code page.  --json: an array of objects with\n"
               "offset, length, name (\"text\", \"unknown\", ...), cmd, params, text.\n"
               "  --profile NAME  printer profile for code page numbers (default generic-80)\n");
}

int kv_cmd_dump(int argc, char **argv, const kv_cli *cli)
{
    (void)cli;
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "profile", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    kv_dump_opts o = KV_DUMP_OPTS_INIT;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "jp:h", lo, NULL)) != -1) {
        switch (c) {
        case 'j': o.json = 1; break;
        case 'p':
            o.profile = kv_profile_find(optarg);
            if (!o.profile)
                return kv_usage_error("dump", "unknown profile '%s'", optarg);
            break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("dump", argc, argv);
        }
    }
    if (optind != argc - 1)
        return kv_usage_error("dump", "expected one FILE");
    uint8_t *buf;
    size_t len;
    if (kv_read_input("dump", argv[optind], &buf, &len) != 0)
        return KV_EXIT_USAGE;
    kv_dump_info info;
    int rc = kv_dump(buf, len, &o, write_stdout, stdout, &info);
    free(buf);
    if (rc == -2) {
        kv_err("dump", "out of memory");
        return KV_EXIT_UNKNOWN;
    }
    if (rc != 0 || kv_close_out("dump", stdout, "standard output") != 0) {
        kv_err("dump", "cannot write standard output");
        return KV_EXIT_USAGE;
    }
    return KV_EXIT_OK;
}
