/* journal_int.h - internal: the journal handle, shared by journal.c and
 * journal_proxy.c (the proxy's held jobs).  Not installed. */
#ifndef KV_JOURNAL_INT_H
#define KV_JOURNAL_INT_H

#include <pthread.h>
#include <sqlite3.h>

struct kv_journal {
    sqlite3 *db;
    pthread_mutex_t mu;       /* recursive: a batch holder calls the others */
    int batch;                /* > 0 inside kv_journal_batch_begin/end */
    char errmsg[256];
};

#endif
