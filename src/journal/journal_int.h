/*
 * journal_int.h - internals of the journal shared by its own sources
 * (journal.c, journal_proxy.c for the proxy's held jobs, journal_report.c
 * for the back office).  Not a public header; not installed.
 */
#ifndef KV_JOURNAL_INT_H
#define KV_JOURNAL_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "src/journal/journal.h"

struct kv_journal {
    sqlite3 *db;
    pthread_mutex_t mu;       /* recursive: a batch holder calls the others */
    int batch;                /* > 0 inside kv_journal_batch_begin/end */
    char errmsg[256];
};

/* The handle's connection (borrowed). */
sqlite3 *kv__journal_db(kv_journal *j);
/* Take / release the handle's (recursive) lock around every statement. */
void kv__journal_lock(kv_journal *j);
void kv__journal_unlock(kv_journal *j);
/* 1 inside kv_journal_batch_begin/end of this handle. */
int kv__journal_in_batch(const kv_journal *j);

#endif
