/* webhooks_sticker.c - user.checked-in.v1 goes into the registration of a
 * store that has a sticker (see webhooks.h). */
#include <stdlib.h>

#include "src/journal/journal_sticker.h"
#include "src/serve/webhooks.h"
#include "src/vipps/vipps.h"

unsigned kv_webhooks_sticker_events(const kv_config *cfg, struct kv_vipps_client *c, const char *msn)
{
    kv_journal *j = NULL;
    if (kv_journal_open(&j, kv_config_main_get(cfg)->journal, NULL, 0) != KV_J_OK)
        return 0;
    kv_sticker_row *rows = NULL;
    size_t n = 0;
    kv_journal_status js = kv_journal_sticker_list(j, &rows, &n, msn);
    free(rows);
    kv_journal_close(j);
    if (js != KV_J_OK || n == 0)
        return 0;
    kv_vipps_webhook *w = NULL;
    size_t nw = 0;
    if (kv_vipps_webhook_list(&w, &nw, c) != KV_VIPPS_OK)
        return KV_VIPPS_WH_CHECKED_IN; /* the registration call will tell */
    unsigned bit = KV_VIPPS_WH_CHECKED_IN;
    for (size_t i = 0; i < nw; i++)
        if (w[i].events & KV_VIPPS_WH_CHECKED_IN)
            bit = 0;
    free(w);
    return bit;
}
