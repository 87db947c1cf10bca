/* proxy_int.h - internal: the proxy handle shared by proxy.c (config, the
 * till side, jobs, pass-through) and pay.c (held jobs, payments, notes). */
#ifndef KV_PROXY_INT_H
#define KV_PROXY_INT_H

#include <pthread.h>
#include <stdio.h>

#include "src/proxy/proxy.h"

/* A job the rule marked as a payment, waiting for or in the worker. */
typedef struct held_job {
    struct held_job *next;
    int64_t id;               /* journal row */
    char reference[64];
    int64_t amount;
    uint8_t *bytes;
    size_t len;
} held_job;

typedef struct status_cache {
    uint8_t query[3];         /* DLE EOT n / GS r n / GS I n */
    uint8_t reply[64];
    size_t rlen;
} status_cache;

struct kv_proxy {
    const kv_config *cfg;
    struct kv_flow *flow;
    char name[64];
    /* the name its held jobs carry in the journal: on a chain's shared
     * (PostgreSQL) journal "<store>/<name>", since every shop may have a
     * [proxy till-1]; on a shop's own SQLite journal the name */
    char jname[130];
    char listen[512];
    char printer[512];
    char store[64];
    char lang[4];
    const kv_profile *profile;
    kv_proxy_rule *rule;
    int idle_ms;
    int cut_ends_job;
    int timeout_s;
    FILE *log;
    /* status answers, guarded by mu */
    status_cache cache[16];
    int ncache;
    /* the payment worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t print_mu;  /* one job at a time to the printer */
    held_job *queue;
    int busy;                  /* a payment is held (status from the cache) */
    int quit;
    struct kv_transport *pt;   /* pass-through connection (main thread) */
    const volatile sig_atomic_t *stop;
};

/* proxy.c: write one job to the printer, reading the replies to the nq
 * status queries inside it (into reply[0..cap) when reply is given; *rlen
 * gets the count).  Flags: SEND_CHECK refuses when the printer reports a
 * problem first (paper out, cover open); SEND_KEEP (main thread only)
 * uses and keeps the pass-through connection p->pt open for the next job
 * of the same till connection, unless a payment is held.  Returns KV_T_OK
 * or a negative kv_transport_status with the cause in err. */
#define SEND_CHECK 1
#define SEND_KEEP 2
int kv__proxy_send(kv_proxy *p, const uint8_t *bytes, size_t len, int nq, int flags, uint8_t *reply,
                   size_t cap, size_t *rlen, char *err, size_t errlen);
/* proxy.c: end and close the pass-through connection (main thread). */
void kv__proxy_flush(kv_proxy *p);
/* proxy.c: log a line (timestamped) when logging. */
void kv__proxy_log(kv_proxy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* proxy.c: number of status queries in a job. */
int kv__proxy_count_queries(const uint8_t *bytes, size_t len);

/* pay.c */
int kv__proxy_worker_start(kv_proxy *p, pthread_t *th);
void kv__proxy_worker_stop(kv_proxy *p, pthread_t th);
/* Handle a finished job: pass, pass + note, or hold for payment. */
void kv__proxy_job(kv_proxy *p, const uint8_t *bytes, size_t len);

#endif
