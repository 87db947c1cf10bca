/*
 * partner.h - a partner's merchants as kvitt configuration: the sales
 * units the Management API lists for an organisation number, written as
 * `[store ...]` sections the config loader (src/config/config.h) reads.
 * Nothing secret is written: the sections name a [credentials] section
 * that lives in the secrets file.
 */
#ifndef KV_REPORT_PARTNER_H
#define KV_REPORT_PARTNER_H

#include <stddef.h>
#include <stdio.h>

#include "src/vipps/backoffice.h"

typedef struct kv_partner_config {
    const char *org;            /* the merchant's organisation number */
    const char *credentials;    /* [credentials NAME] the stores use (partner keys) */
    const char *language;       /* nb | da | fi | sv | en (default nb) */
    const char *currency;       /* NOK | DKK | EUR (default NOK) */
    const char *chain;          /* optional chain name for every store */
} kv_partner_config;

/* A store id for a sales unit: its name in lowercase letters, digits and
 * '-' (Nordic letters folded: æ->ae, ø->o, å->a, ä->a, ö->o), else
 * "msn-<msn>".  Into buf (64 bytes). */
void kv_partner_store_id(char buf[64], const kv_vipps_sales_unit *u);

/* Write one [store ID] section per active sales unit (deactivated ones as
 * a comment), with the capabilities that matter to kvitt as comments.
 * Returns 0, or -1 on a write error. */
int kv_partner_write_config(FILE *f, const kv_vipps_sales_unit *u, size_t n, const kv_partner_config *pc);

#endif
