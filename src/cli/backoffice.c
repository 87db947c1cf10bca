/* backoffice.c - see backoffice.h. */
#include "src/cli/backoffice.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "src/vipps/vipps.h"

int kv_bo_open(kv_bo *bo, const char *cmd, const kv_cli *cli, int journal)
{
    memset(bo, 0, sizeof *bo);
    char err[1024] = "";
    const char *path = kv_config_default_path(cli->config_path);
    if (kv_config_load(&bo->cfg, path, err, sizeof err) != KV_C_OK) {
        kv_err(cmd, "%s", err);
        return KV_EXIT_CONFIG;
    }
    if (journal) {
        const kv_config_main *m = kv_config_main_get(bo->cfg);
        struct stat sb;
        if (stat(m->journal, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            kv_err(cmd, "journal = %s is a folder, not the journal's file; fix: journal = %s/journal.db in %s",
                   m->journal, m->journal, kv_config_path(bo->cfg));
            kv_bo_close(bo);
            return KV_EXIT_CONFIG;
        }
        if (kv_journal_open(&bo->j, m->journal, err, sizeof err) != KV_J_OK) {
            kv_err(cmd, "%s", err);
            kv_bo_close(bo);
            return KV_EXIT_CONFIG;
        }
    }
    return 0;
}

void kv_bo_close(kv_bo *bo)
{
    kv_journal_close(bo->j);
    kv_config_free(bo->cfg);
    memset(bo, 0, sizeof *bo);
}

const kv_store *kv_bo_store(kv_bo *bo, const char *cmd, const char *id)
{
    const kv_store *s = kv_config_store(bo->cfg, id);
    if (s)
        return s;
    char names[512] = "";
    for (size_t i = 0; i < kv_config_store_count(bo->cfg); i++) {
        const kv_store *x = kv_config_store_at(bo->cfg, i);
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", x->id);
    }
    if (id)
        kv_err(cmd, "--store %s: no such [store] in %s (configured: %s)", id, kv_config_path(bo->cfg),
               names[0] ? names : "none");
    else
        kv_err(cmd, "no store given and no default_store in %s; fix: give --store (configured: %s)",
               kv_config_path(bo->cfg), names[0] ? names : "none");
    return NULL;
}

void kv_bo_now_text(char buf[20])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, 20, "%Y-%m-%d %H:%M", &tm);
}

kv_vipps_client *kv_bo_client(kv_bo *bo, const char *cmd, const kv_store *s)
{
    const kv_config_main *m = kv_config_main_get(bo->cfg);
    const kv_credentials *cr = kv_config_credentials(bo->cfg, s);
    if (!cr) {
        kv_err(cmd, "store %s: no [credentials %s] in the secrets file; fix: add the keys", s->id,
               s->credentials);
        return NULL;
    }
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = m->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = s->msn;
    o.partner_keys = cr->partner;
    o.system_name = m->system_name;
    o.system_version = m->system_version;
    o.plugin_name = m->plugin_name;
    o.plugin_version = m->plugin_version;
    o.lang = kv_vipps_lang_from_code(s->language);
    o.connect_timeout_ms = m->connect_timeout_ms;
    o.total_timeout_ms = m->total_timeout_ms;
    kv_vipps_client *c = NULL;
    char err[256] = "";
    if (kv_vipps_client_create(&c, &o, err, sizeof err) != KV_VIPPS_OK) {
        kv_err(cmd, "store %s: %s", s->id, err[0] ? err : "cannot create the payment client");
        return NULL;
    }
    return c;
}
