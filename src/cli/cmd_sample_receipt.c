/* cmd_sample_receipt.c - `kvitt sample-receipt`: the fixed sample receipt. */
#include "src/cli/cli.h"
#include "src/cli/sample_cmd.h"
#include "src/doc/sample.h"

static const char usage[] =
    "usage: kvitt sample-receipt -o FILE|- [--profile NAME] [--lang nb|da|fi|sv|en]\n"
    "                            [--currency NOK|DKK|SEK|EUR] [--codepage NAME]\n"
    "\n"
    "Write a fixed sample receipt (header, items with Nordic letters, a\n"
    "truncated long item, rules, total, barcode, cut) as ESC/POS bytes for the\n"
    "printer profile: a test page for a printer and the golden fixtures.\n";

int kv_cmd_sample_receipt(int argc, char **argv, const kv_cli *cli)
{
    (void)cli;
    return kv_sample_cmd("sample-receipt", usage, 1, kv_sample_receipt_write, argc, argv);
}
