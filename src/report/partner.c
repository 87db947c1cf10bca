/* partner.c - sales units as [store] sections (partner.h). */
#include "src/report/partner.h"

#include <ctype.h>
#include <string.h>

void kv_partner_store_id(char buf[64], const kv_vipps_sales_unit *u)
{
    static const struct { const char *from, *to; } fold[] = {
        { "\xc3\xa6", "ae" }, { "\xc3\x86", "ae" }, { "\xc3\xb8", "o" }, { "\xc3\x98", "o" },
        { "\xc3\xa5", "a" }, { "\xc3\x85", "a" }, { "\xc3\xa4", "a" }, { "\xc3\x84", "a" },
        { "\xc3\xb6", "o" }, { "\xc3\x96", "o" }, { "\xc3\xbc", "u" }, { "\xc3\xa9", "e" },
    };
    size_t o = 0;
    int dash = 0;
    for (const char *p = u->name; *p && o < 40;) {
        size_t k;
        for (k = 0; k < sizeof fold / sizeof fold[0]; k++)
            if (strncmp(p, fold[k].from, 2) == 0)
                break;
        if (k < sizeof fold / sizeof fold[0]) {
            for (const char *t = fold[k].to; *t && o < 40; t++)
                buf[o++] = *t;
            p += 2;
            dash = 0;
            continue;
        }
        unsigned char c = (unsigned char)*p++;
        if (isalnum(c) && c < 0x80) {
            buf[o++] = (char)tolower(c);
            dash = 0;
        } else if (o && !dash) {
            buf[o++] = '-';
            dash = 1;
        }
    }
    while (o && buf[o - 1] == '-')
        o--;
    buf[o] = 0;
    if (!o)
        snprintf(buf, 64, "msn-%s", u->msn);
}

/* Names go into `name = ...` lines: one line, no control characters. */
static void clean_line(char *dst, size_t n, const char *s)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++)
        dst[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
    dst[o] = 0;
}

static const char *tri_text(int v, const char *yes, const char *no)
{
    return v > 0 ? yes : v == 0 ? no : "unknown";
}

int kv_partner_write_config(FILE *f, const kv_vipps_sales_unit *u, size_t n, const kv_partner_config *pc)
{
    fprintf(f, "# Sales units of organisation %s from the Vipps MobilePay Management API\n"
               "# (kvitt partner sales-units --write-config).  Add printer = URI per store;\n"
               "# the keys are in the secrets file under [credentials %s].\n",
            pc->org ? pc->org : "?", pc->credentials);
    for (size_t i = 0; i < n; i++) {
        char id[64], name[128];
        kv_partner_store_id(id, &u[i]);
        clean_line(name, sizeof name, u[i].name[0] ? u[i].name : id);
        /* two units with the same name: the second gets its MSN */
        for (size_t k = 0; k < i; k++) {
            char other[64];
            kv_partner_store_id(other, &u[k]);
            if (!strcmp(other, id)) {
                size_t l = strlen(id);
                snprintf(id + (l > 40 ? 40 : l), 64 - (l > 40 ? 40 : l), "-%s", u[i].msn);
                break;
            }
        }
        fprintf(f, "\n");
        const char *pre = "";
        if (!strcmp(u[i].status, "DEACTIVATED")) {
            fprintf(f, "# sales unit %s is DEACTIVATED at Vipps MobilePay: left out\n", u[i].msn);
            pre = "# ";
        }
        fprintf(f, "%s[store %s]\n", pre, id);
        fprintf(f, "%sname = %s\n", pre, name);
        if (pc->org)
            fprintf(f, "%sorg_number = %s\n", pre, pc->org);
        fprintf(f, "%smsn = %s\n", pre, u[i].msn);
        fprintf(f, "%slanguage = %s\n", pre, pc->language ? pc->language : "nb");
        fprintf(f, "%scurrency = %s\n", pre, pc->currency ? pc->currency : "NOK");
        fprintf(f, "%sflow = epayment-qr\n", pre);
        fprintf(f, "%scredentials = %s\n", pre, pc->credentials);
        fprintf(f, "%sreference_prefix = U%s\n", pre, u[i].msn);
        if (pc->chain && *pc->chain)
            fprintf(f, "%schain = %s\n", pre, pc->chain);
        fprintf(f, "# capture: %s (partial capture %s); skipLandingPage %s; payments %s\n",
                u[i].capture_type[0] ? u[i].capture_type : "unknown",
                tri_text(u[i].partial_capture, "yes", "no"), tri_text(u[i].skip_landing_page, "allowed", "not allowed"),
                tri_text(u[i].payment_allowed, "allowed", "NOT allowed"));
    }
    return ferror(f) ? -1 : 0;
}
