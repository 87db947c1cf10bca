/* cmd_sticker.c - `kvitt sticker create|list|delete|reprint`: a till's
 * merchant-callback QR sticker (src/flow/flow_sticker.c does the work). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"
#include "escpos/profile.h"
#include "src/doc/sticker.h"
#include "src/flow/flow_sticker.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvitt sticker create --till ID [--location TEXT] [--printer URI] [--draw] [--json]\n"
        "       kvitt sticker reprint --till ID [--printer URI] [--draw] [--json]\n"
        "       kvitt sticker delete --till ID [--json]\n"
        "       kvitt sticker list [--json]\n"
        "       kvitt sticker placard --content TEXT [--location TEXT] [--store-name TEXT]\n"
        "                             [--lang nb|da|fi|sv|en] [--profile NAME] -o FILE\n\n"
        "A static QR sticker that pays, for a till without a customer screen: a\n"
        "merchant-callback QR of the Vipps MobilePay QR API, printed as a placard on\n"
        "the till's receipt printer.  The customer scans it, Vipps sends\n"
        "user.checked-in.v1 to `kvitt serve`, and the till's waiting sticker payment\n"
        "(`kvitt pay --sticker` through the daemon, \"flow\": \"sticker\") goes to the\n"
        "customer's app.\n\n"
        "create   create or update the till's QR (its id is kvitt-ID, stable) and print\n"
        "         the placard\n"
        "reprint  print the placard again\n"
        "delete   delete the QR at Vipps: a printed placard stops working\n"
        "list     the stickers in the journal\n"
        "placard  write a placard for QR content TEXT as ESC/POS bytes to FILE (- for\n"
        "         standard output), offline: no configuration, no service\n\n"
        "  --till ID        the till ([till ID] store and printer, else the defaults)\n"
        "  --location TEXT  where it hangs, shown in the app (1-36 characters,\n"
        "                   default: the till id, or the text given before)\n"
        "  --printer URI    print on this printer instead of the till's or store's\n"
        "  --draw           draw the QR with the printer's own QR command instead of\n"
        "                   printing Vipps' image (a self-drawn QR needs Vipps' approval)\n"
        "  --json           print one JSON object on stdout\n"
        "  --content TEXT   placard: the QR content (printable ASCII)\n"
        "  --store-name T   placard: the first line\n"
        "  --lang L         placard: language of the texts (default nb)\n"
        "  --profile NAME   placard: printer profile (see 'kvitt profiles')\n"
        "  -o, --output F   placard: where to write the bytes\n\n"
        "Run `kvitt webhooks register` after the first sticker of a store: it then also\n"
        "registers user.checked-in.v1.\n\n"
        "exit codes: 0 done, 1 no such sticker, 2 bad input, 3 configuration,\n"
        "4 printer failure (the QR exists: run reprint), 5 service unreachable.\n");
}

static void print_row(const kv_sticker_row *r, int json)
{
    if (!json) {
        printf("%s\ttill %s\tstore %s\t%s\t%s\t%s\n", r->id, r->till, r->store, r->location,
               r->content, r->printed_at ? "printed" : "not printed");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchantQrId", r->id);
    cJSON_AddStringToObject(o, "till", r->till);
    cJSON_AddStringToObject(o, "store", r->store);
    cJSON_AddStringToObject(o, "location", r->location);
    cJSON_AddStringToObject(o, "qrContent", r->content);
    cJSON_AddBoolToObject(o, "printed", r->printed_at != 0);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (t)
        printf("%s\n", t);
    free(t);
}

typedef struct placard_args {
    const char *content, *location, *store_name, *profile, *out;
    kv_lang lang;
    int unused;
} placard_args;

/* `kvitt sticker placard`: the document alone, for golden files and for a
 * shop that prints its sticker elsewhere. */
static int placard(const placard_args *a, int draw)
{
    if (!a->content)
        return kv_usage_error("sticker", "placard needs --content TEXT (the QR content)");
    if (!a->out)
        return kv_usage_error("sticker", "placard needs -o FILE (- for standard output)");
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    if (a->profile && !(eo.profile = kv_profile_find(a->profile)))
        return kv_usage_error("sticker", "unknown printer profile '%s' (see 'kvitt profiles')", a->profile);
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK) {
        kv_err("sticker", "out of memory");
        return KV_EXIT_USAGE;
    }
    kv_sticker_spec sp = KV_STICKER_SPEC_INIT;
    sp.content = a->content;
    sp.location = a->location;
    sp.store_name = a->store_name;
    sp.lang = a->lang;
    (void)draw; /* offline there is no Vipps image: the QR is always drawn */
    if (kv_sticker_write(e, &sp) != KV_ESCPOS_OK) {
        int rc = kv_usage_error("sticker", "%s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return rc;
    }
    size_t len;
    const uint8_t *data = kv_escpos_data(e, &len);
    int rc = kv_write_out("sticker", a->out, data, len);
    kv_escpos_destroy(e);
    return rc;
}

int kv_cmd_sticker(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "till", required_argument, NULL, 't' },
        { "location", required_argument, NULL, 'l' },
        { "printer", required_argument, NULL, 'P' },
        { "draw", no_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "content", required_argument, NULL, 'c' },
        { "store-name", required_argument, NULL, 'n' },
        { "lang", required_argument, NULL, 'L' },
        { "profile", required_argument, NULL, 'p' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *till = NULL, *location = NULL, *printer = NULL;
    placard_args pa = { NULL, NULL, NULL, NULL, NULL, KV_LANG_NB, 0 };
    int json = 0, draw = 0, c;
    optind = 0; /* options may follow the verb */
    while ((c = getopt_long(argc, argv, "t:l:P:djc:n:L:p:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': till = optarg; break;
        case 'l': location = optarg; break;
        case 'P': printer = optarg; break;
        case 'd': draw = 1; break;
        case 'j': json = 1; break;
        case 'c': pa.content = optarg; break;
        case 'n': pa.store_name = optarg; break;
        case 'L':
            if (kv_lang_from_name(&pa.lang, optarg))
                return kv_usage_error("sticker", "--lang must be nb, da, fi, sv or en, not '%s'", optarg);
            break;
        case 'p': pa.profile = optarg; break;
        case 'o': pa.out = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("sticker", argc, argv);
        }
    }
    if (optind >= argc)
        return kv_usage_error("sticker", "say create, list, delete, reprint or placard");
    const char *verb = argv[optind];
    if (optind + 1 < argc)
        return kv_usage_error("sticker", "unexpected argument '%s'", argv[optind + 1]);
    if (!strcmp(verb, "placard")) {
        pa.location = location;
        return placard(&pa, draw);
    }
    if (pa.content || pa.store_name || pa.profile || pa.out)
        return kv_usage_error("sticker", "--content, --store-name, --profile and -o go with placard");
    int create = !strcmp(verb, "create"), list = !strcmp(verb, "list"),
        del = !strcmp(verb, "delete"), reprint = !strcmp(verb, "reprint");
    if (!create && !list && !del && !reprint)
        return kv_usage_error("sticker", "'%s' is not create, list, delete, reprint or placard", verb);
    if (!list && !till)
        return kv_usage_error("sticker", "%s needs --till ID", verb);
    if (location && !create)
        return kv_usage_error("sticker", "--location goes with create");
    char idbuf[160];
    if (till && kv_flow_sticker_id(idbuf, sizeof idbuf, till) < 0)
        return kv_usage_error("sticker", "--till: 1-64 letters, digits, '-' or '_', got '%s'", till);
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "sticker", cli, json);
    if (rc)
        return rc;
    if (list) {
        kv_sticker_row *rows = NULL;
        size_t n = 0;
        if (kv_journal_sticker_list(kv_flow_journal(fc.flow), &rows, &n, NULL) != KV_J_OK) {
            kv_err("sticker", "the journal cannot be read: %s", kv_journal_errmsg(kv_flow_journal(fc.flow)));
            kv_flowcli_close(&fc);
            return KV_EXIT_CONFIG;
        }
        for (size_t i = 0; i < n; i++)
            print_row(&rows[i], json);
        if (!n && !json)
            printf("no stickers\n");
        free(rows);
        kv_flowcli_close(&fc);
        return KV_EXIT_OK;
    }
    kv_sticker_result res;
    kv_sticker_qr qr = draw ? KV_STICKER_QR_DRAW : KV_STICKER_QR_IMAGE;
    kv_flow_status st = create ? kv_flow_sticker_create(fc.flow, &res, till, location, printer, qr)
                      : reprint ? kv_flow_sticker_reprint(fc.flow, &res, till, printer, qr)
                                : kv_flow_sticker_delete(fc.flow, &res, till);
    if (st == KV_FLOW_OK || (st == KV_FLOW_E_PRINTER && create)) {
        if (del && !json)
            printf("deleted %s (till %s)\n", res.row.id, till);
        else
            print_row(&res.row, json);
        if (res.print_path[0] && !json)
            fprintf(stderr, "kvitt sticker: placard printed: %s\n", res.print_path);
    }
    if (st != KV_FLOW_OK)
        kv_err("sticker", "%s%s%s", kv_flow_strerror(st), res.detail[0] ? ": " : "", res.detail);
    kv_flowcli_close(&fc);
    return st == KV_FLOW_E_NOT_FOUND ? KV_EXIT_NOT_PAID : kv_flow_exit_code(st);
}
