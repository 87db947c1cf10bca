/* backoffice.c - see backoffice.h. */
#include "src/cli/backoffice.h"

#include <string.h>
#include <time.h>

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
