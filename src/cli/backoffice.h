/*
 * backoffice.h - glue of the back-office subcommands (report, reconcile,
 * partner): load the configuration and open the journal, nothing else (no
 * payment flow, no payment client).
 */
#ifndef KV_CLI_BACKOFFICE_H
#define KV_CLI_BACKOFFICE_H

#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/journal/journal.h"

typedef struct kv_bo {
    kv_config *cfg;
    kv_journal *j;       /* NULL unless asked for */
} kv_bo;

/* Load the configuration (and open its journal when journal is 1).
 * Returns 0, or KV_EXIT_CONFIG after printing the reason. */
int kv_bo_open(kv_bo *bo, const char *cmd, const kv_cli *cli, int journal);
void kv_bo_close(kv_bo *bo);

/* The store --store names (NULL: the default store).  NULL after printing
 * an error naming the configured stores. */
const kv_store *kv_bo_store(kv_bo *bo, const char *cmd, const char *id);

/* A payment client for the store's credentials (the Report and
 * Management APIs use the same keys).  NULL after printing the reason
 * (missing credentials, bad MSN). */
struct kv_vipps_client;
struct kv_vipps_client *kv_bo_client(kv_bo *bo, const char *cmd, const kv_store *s);

/* Local time now as "YYYY-MM-DD HH:MM" (buf of 20 bytes). */
void kv_bo_now_text(char buf[20]);

#endif
