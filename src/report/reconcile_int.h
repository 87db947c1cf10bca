/* reconcile_int.h - internals shared by reconcile.c and reconcile_out.c. */
#ifndef KV_REPORT_RECONCILE_INT_H
#define KV_REPORT_RECONCILE_INT_H

#include "src/report/reconcile.h"

struct kv_recon {
    char date[11];
    kv_recon_row *rows[4];
    size_t n[4], cap[4];
    kv_recon_ledger_sum *L;
    size_t nl;
};

kv_recon_status kv__recon_from_vipps(kv_vipps_status st);
/* "store S: what: <the client's last error>" into err. */
void kv__recon_err(char *err, size_t n, const char *store, kv_vipps_client *c, const char *what);

#endif
