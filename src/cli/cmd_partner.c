/* cmd_partner.c - `kvitt partner`: a POS partner's merchants into the
 * configuration (Management API, partner keys) and the sign-up link. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "escpos/encoder.h"
#include "escpos/profile.h"
#include "src/cli/backoffice.h"
#include "src/cli/cli.h"
#include "src/doc/signup.h"
#include "src/report/partner.h"
#include "src/report/report.h"
#include "src/vipps/backoffice.h"

static const char usage[] =
    "usage: kvitt partner sales-units --org NNNNNNNNN [--credentials NAME] [--store ID]\n"
    "                                 [--write-config FILE] [--language L] [--currency C]\n"
    "                                 [--chain NAME] [--json]\n"
    "       kvitt partner signup --org NNNNNNNNN [--name TEXT] [--product TYPE]\n"
    "                            [--credentials NAME] [--store ID] [--print]\n"
    "                            [--printer URI] [--json]\n"
    "\n"
    "sales-units: the merchant's sales units seen with the partner keys: MSN, name,\n"
    "status and what matters to kvitt (capture type = partial capture,\n"
    "skipLandingPage, payments allowed).\n"
    "  --org N             the merchant's Norwegian organisation number (9 digits)\n"
    "  --credentials NAME  the [credentials NAME] with the partner keys (default:\n"
    "                      the first store's credentials that are partner keys)\n"
    "  --store ID          call with this store's MSN and credentials\n"
    "  --write-config FILE write a [store ...] section per sales unit to a new FILE\n"
    "                      (never overwritten; - for standard output); nothing\n"
    "                      secret is written\n"
    "  --language L        language of the written stores (default nb)\n"
    "  --currency C        currency of the written stores (default NOK)\n"
    "  --chain NAME        chain of the written stores\n"
    "  --json              one JSON object on stdout\n"
    "signup: prefill a product order for a new merchant and print the link.\n"
    "  --name TEXT         the sales unit's name (1-30 characters)\n"
    "  --product TYPE      VIPPS_I_KASSA (default), VIPPS_PA_NETT, VIPPS_CHECKOUT,\n"
    "                      VIPPS_LOGG_INN\n"
    "  --print             also print the link as a QR code on the store's printer\n"
    "  --printer URI       print on this printer instead of the store's\n"
    "Exit 0 done, 2 bad input or unknown organisation, 3 configuration or keys\n"
    "refused, 4 printer, 5 Management API unreachable.\n";

typedef struct pargs {
    const char *org, *creds, *store, *write, *lang, *currency, *chain, *name, *product, *printer;
    int json, print;
} pargs;

static int exit_for(kv_vipps_status st, const kv_vipps_error *e)
{
    switch (st) {
    case KV_VIPPS_E_INVALID: return KV_EXIT_USAGE;
    case KV_VIPPS_E_NOT_FOUND: return KV_EXIT_USAGE; /* unknown organisation / MSN */
    case KV_VIPPS_E_UNREACHABLE: case KV_VIPPS_E_UNKNOWN: return KV_EXIT_SERVICE;
    case KV_VIPPS_E_API: return e && e->http_status == 400 ? KV_EXIT_USAGE : KV_EXIT_CONFIG;
    default: return KV_EXIT_CONFIG;
    }
}

static int api_error(const char *what, kv_vipps_client *c, kv_vipps_status st)
{
    const kv_vipps_error *e = kv_vipps_last_error(c);
    kv_err("partner", "%s: %s%s%s", what, kv_vipps_strerror(st), e && e->log[0] ? ": " : "",
           e ? e->log : "");
    if (e && (e->http_status == 403 || st == KV_VIPPS_E_AUTH))
        kv_err("partner", "fix: use partner keys (--credentials NAME of a [credentials] with partner = yes)");
    return exit_for(st, e);
}

/* The client: --store's (or the default store's) MSN with --credentials
 * (or the first partner credentials of any store, else the store's own). */
static kv_vipps_client *client(kv_bo *bo, const pargs *a)
{
    const kv_store *s = kv_bo_store(bo, "partner", a->store);
    if (!s)
        return NULL;
    kv_store tmp = *s;
    if (a->creds) {
        snprintf(tmp.credentials, sizeof tmp.credentials, "%s", a->creds);
    } else if (!a->store) {
        for (size_t i = 0; i < kv_config_store_count(bo->cfg); i++) {
            const kv_store *x = kv_config_store_at(bo->cfg, i);
            const kv_credentials *cr = kv_config_credentials(bo->cfg, x);
            if (cr && cr->partner) {
                tmp = *x;
                break;
            }
        }
    }
    return kv_bo_client(bo, "partner", &tmp);
}

static int sales_units(kv_bo *bo, const pargs *a)
{
    kv_vipps_client *c = client(bo, a);
    if (!c)
        return KV_EXIT_CONFIG;
    kv_vipps_sales_unit *u = NULL;
    size_t n = 0;
    kv_vipps_status st = kv_vipps_merchant_sales_units(&u, &n, c, a->org);
    int rc = KV_EXIT_OK;
    if (st == KV_VIPPS_E_NOT_FOUND) {
        kv_err("partner", "--org %s: no merchant with this organisation number is connected to these partner keys",
               a->org);
        rc = KV_EXIT_USAGE;
        goto out;
    }
    if (st) {
        rc = api_error("sales units", c, st);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char msn[16];
        memcpy(msn, u[i].msn, sizeof msn);
        st = kv_vipps_sales_unit_get(&u[i], c, msn);
        if (st) {
            rc = api_error("sales unit", c, st);
            goto out;
        }
    }
    if (a->write) {
        /* a new file only ("x"): the name given may be the live kvitt.conf */
        FILE *f = strcmp(a->write, "-") == 0 ? stdout : fopen(a->write, "wx");
        if (!f) {
            if (errno == EEXIST)
                kv_err("partner", "--write-config %s: the file exists and is not overwritten; name a new file "
                       "and add its [store] sections to the configuration yourself", a->write);
            else
                kv_err("partner", "cannot write %s: %s", a->write, strerror(errno));
            rc = KV_EXIT_USAGE;
            goto out;
        }
        const kv_store *s = kv_bo_store(bo, "partner", a->store);
        kv_partner_config pc = { a->org, a->creds ? a->creds : (s ? s->credentials : "partner"), a->lang,
                                 a->currency, a->chain };
        if (!a->creds) {
            for (size_t i = 0; i < kv_config_store_count(bo->cfg); i++) {
                const kv_store *x = kv_config_store_at(bo->cfg, i);
                const kv_credentials *cr = kv_config_credentials(bo->cfg, x);
                if (cr && cr->partner) {
                    pc.credentials = x->credentials;
                    break;
                }
            }
        }
        int wr = kv_partner_write_config(f, u, n, &pc);
        if (kv_close_out("partner", f, a->write) || wr) {
            rc = KV_EXIT_USAGE;
            goto out;
        }
    }
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "org", a->org);
        cJSON *arr = cJSON_AddArrayToObject(o, "sales_units");
        for (size_t i = 0; i < n; i++) {
            char id[64];
            kv_partner_store_id(id, &u[i]);
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "msn", u[i].msn);
            cJSON_AddStringToObject(x, "name", u[i].name);
            cJSON_AddStringToObject(x, "store_id", id);
            cJSON_AddStringToObject(x, "status", u[i].status);
            cJSON_AddStringToObject(x, "capture_type", u[i].capture_type);
            const int v[3] = { u[i].partial_capture, u[i].skip_landing_page, u[i].payment_allowed };
            static const char *const k[3] = { "partial_capture", "skip_landing_page", "payment_allowed" };
            for (int q = 0; q < 3; q++) {
                if (v[q] < 0)
                    cJSON_AddNullToObject(x, k[q]);
                else
                    cJSON_AddBoolToObject(x, k[q], v[q]);
            }
            cJSON_AddItemToArray(arr, x);
        }
        char *t = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (t)
            printf("%s\n", t);
        free(t);
    } else if (!a->write || strcmp(a->write, "-") != 0) {
        printf("%-8s %-30s %-12s %-16s %-8s %s\n", "MSN", "NAME", "STATUS", "CAPTURE", "PARTIAL", "SKIP-LANDING");
        for (size_t i = 0; i < n; i++)
            printf("%-8s %-30.30s %-12s %-16s %-8s %s\n", u[i].msn, u[i].name, u[i].status[0] ? u[i].status : "?",
                   u[i].capture_type[0] ? u[i].capture_type : "?",
                   u[i].partial_capture > 0 ? "yes" : u[i].partial_capture == 0 ? "no" : "?",
                   u[i].skip_landing_page > 0 ? "yes" : u[i].skip_landing_page == 0 ? "no" : "?");
    }
out:
    free(u);
    kv_vipps_client_destroy(c);
    return rc;
}

static int print_sheet(kv_bo *bo, const pargs *a, const char *url, char *job, size_t joblen)
{
    const kv_store *s = kv_bo_store(bo, "partner", a->store);
    if (!s)
        return KV_EXIT_USAGE;
    const char *uri = a->printer ? a->printer : s->printer;
    if (!*uri) {
        kv_err("partner", "no printer configured; fix: set printer = URI for the store or give --printer");
        return KV_EXIT_PRINTER;
    }
    kv_lang lang = KV_LANG_NB;
    if (kv_lang_from_name(&lang, s->language))
        lang = KV_LANG_EN;
    char now[20];
    kv_bo_now_text(now);
    kv_signup_spec sp = { lang, a->org, a->name, url, now };
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find(s->profile);
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) || kv_signup_write(e, &sp)) {
        kv_err("partner", "the sign-up sheet cannot be laid out: %s", e ? kv_escpos_errmsg(e) : "no memory");
        kv_escpos_destroy(e);
        return KV_EXIT_PRINTER;
    }
    size_t len;
    const uint8_t *d = kv_escpos_data(e, &len);
    char err[512] = "";
    kv_report_status st = kv_report_send(uri, d, len, err, sizeof err, job, joblen);
    kv_escpos_destroy(e);
    if (st) {
        kv_err("partner", "%s (the link is valid: print it again or type it)", err);
        return KV_EXIT_PRINTER;
    }
    return KV_EXIT_OK;
}

static int signup(kv_bo *bo, const pargs *a)
{
    kv_vipps_client *c = client(bo, a);
    if (!c)
        return KV_EXIT_CONFIG;
    char id[64] = "", url[1024] = "", job[1024] = "";
    kv_vipps_product_order po = { a->org, a->product, a->name, NULL, "POS integration in a physical store (kvitt)" };
    kv_vipps_status st = kv_vipps_product_order_create(id, sizeof id, url, sizeof url, c, &po);
    int rc = KV_EXIT_OK;
    if (st) {
        rc = api_error("product order", c, st);
    } else {
        if (a->print)
            rc = print_sheet(bo, a, url, job, sizeof job);
        if (a->json) {
            /* cJSON: the id and the link come from the API, the job's path
             * from the printer URI */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "org", a->org);
            cJSON_AddStringToObject(o, "order_id", id);
            cJSON_AddStringToObject(o, "url", url);
            cJSON_AddBoolToObject(o, "printed", a->print && rc == KV_EXIT_OK);
            cJSON_AddStringToObject(o, "job", job);
            char *text = cJSON_PrintUnformatted(o);
            if (text)
                puts(text);
            cJSON_free(text);
            cJSON_Delete(o);
        } else
            printf("order %s for %s: %s\n", id, a->org, url);
    }
    kv_vipps_client_destroy(c);
    return rc;
}

static int org_ok(const char *org)
{
    if (!org || strlen(org) != 9)
        return 0;
    for (const char *p = org; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int kv_cmd_partner(int argc, char **argv, const kv_cli *cli)
{
    if (argc < 2)
        return kv_usage_error("partner", "what? sales-units or signup");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, stdout);
        return KV_EXIT_OK;
    }
    int units = !strcmp(argv[1], "sales-units");
    if (!units && strcmp(argv[1], "signup"))
        return kv_usage_error("partner", "unknown '%s': sales-units or signup", argv[1]);
    static const struct option opts[] = {
        { "org", required_argument, NULL, 'o' },
        { "credentials", required_argument, NULL, 'k' },
        { "store", required_argument, NULL, 's' },
        { "write-config", required_argument, NULL, 'w' },
        { "language", required_argument, NULL, 'l' },
        { "currency", required_argument, NULL, 'c' },
        { "chain", required_argument, NULL, 'C' },
        { "name", required_argument, NULL, 'n' },
        { "product", required_argument, NULL, 'p' },
        { "print", no_argument, NULL, 'P' },
        { "printer", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    pargs a;
    memset(&a, 0, sizeof a);
    int c;
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a.org = optarg; break;
        case 'k': a.creds = optarg; break;
        case 's': a.store = optarg; break;
        case 'w': a.write = optarg; break;
        case 'l': a.lang = optarg; break;
        case 'c': a.currency = optarg; break;
        case 'C': a.chain = optarg; break;
        case 'n': a.name = optarg; break;
        case 'p': a.product = optarg; break;
        case 'P': a.print = 1; break;
        case 'r': a.printer = optarg; break;
        case 'j': a.json = 1; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        case ':': return kv_usage_error("partner", "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option("partner", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("partner", "unexpected argument '%s'", argv[optind]);
    if (!a.org)
        return kv_usage_error("partner", "--org is required (the merchant's organisation number)");
    if (!org_ok(a.org))
        return kv_usage_error("partner", "--org: '%s' is not an organisation number (9 digits)", a.org);
    if (units && (a.name || a.product || a.print || a.printer))
        return kv_usage_error("partner", "--name, --product, --print and --printer are for signup");
    if (!units && (a.write || a.lang || a.currency || a.chain))
        return kv_usage_error("partner", "--write-config, --language, --currency and --chain are for sales-units");
    if (a.lang && strcmp(a.lang, "nb") && strcmp(a.lang, "da") && strcmp(a.lang, "fi") && strcmp(a.lang, "sv") &&
        strcmp(a.lang, "en"))
        return kv_usage_error("partner", "--language: nb, da, fi, sv or en");
    if (a.currency && strcmp(a.currency, "NOK") && strcmp(a.currency, "DKK") && strcmp(a.currency, "EUR"))
        return kv_usage_error("partner", "--currency: NOK, DKK or EUR");
    if (a.chain && (!*a.chain || kv_has_control(a.chain)))
        return kv_usage_error("partner", "--chain: one line of text without control characters");
    if (a.name && (!*a.name || strlen(a.name) > 30 || kv_has_control(a.name)))
        return kv_usage_error("partner", "--name: the sales unit name is 1-30 characters without control characters");
    if (a.product && strcmp(a.product, "VIPPS_I_KASSA") && strcmp(a.product, "VIPPS_PA_NETT") &&
        strcmp(a.product, "VIPPS_CHECKOUT") && strcmp(a.product, "VIPPS_LOGG_INN"))
        return kv_usage_error("partner", "--product: VIPPS_I_KASSA, VIPPS_PA_NETT, VIPPS_CHECKOUT or VIPPS_LOGG_INN");
    if (a.printer && !a.print)
        return kv_usage_error("partner", "--printer goes with --print");
    struct stat wst;
    if (a.write && strcmp(a.write, "-") != 0 && lstat(a.write, &wst) == 0)
        return kv_usage_error("partner", "--write-config %s: the file exists and is not overwritten; name a new "
                              "file and add its [store] sections to the configuration yourself", a.write);
    kv_bo bo;
    int rc = kv_bo_open(&bo, "partner", cli, 0);
    if (rc)
        return rc;
    rc = units ? sales_units(&bo, &a) : signup(&bo, &a);
    kv_bo_close(&bo);
    return rc;
}
