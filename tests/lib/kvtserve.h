/*
 * kvtserve.h - end-to-end fixture for `kvitt serve` suites: a real
 * `kvitt sim` child, an optional `kvitt vprinter` child, and the daemon as
 * a child process, all on loopback, with a configuration written by the
 * simulator (`--write-config`) plus [serve] and [till] sections.
 *
 * Tills (bearer tokens below, hashed into the config):
 *   t-oslo     store oslo, printer = the vprinter when one runs
 *   t-bergen   store bergen, chain_refund = true
 *   t-bergen2  store bergen, chain_refund = false
 *
 * Store patterns (kvt_serve_opts.pattern):
 *   "central"  each store its own credentials (the simulator's default)
 *   "partner"  both stores use the partner keys, each with its own MSN
 *   "one-msn"  both stores use oslo's credentials and MSN; references
 *              carry the store prefix (OSL-, BGO-)
 */
#ifndef KV_TESTS_KVTSERVE_H
#define KV_TESTS_KVTSERVE_H

#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"

#define KVT_TOK_OSLO "tok-oslo-till-0123456789abcdef"
#define KVT_TOK_BERGEN "tok-bergen-chain-0123456789abcdef"
#define KVT_TOK_BERGEN2 "tok-bergen-plain-0123456789abcdef"

typedef struct kvt_serve_opts {
    const char *pattern;         /* NULL = "central" */
    const char *sim_args[12];    /* extra `kvitt sim` arguments, NULL-terminated */
    int vprinter;                /* 1: start a vprinter for till t-oslo */
    int poll_first_s;            /* [kvitt] poll_first_s (default 1) */
    int payment_timeout_s;       /* default 60 */
    int shutdown_grace_s;        /* [serve] shutdown_grace_s (default 2) */
    const char *extra_conf;      /* appended to the config verbatim, or NULL */
    const char *serve_extra;     /* extra lines of the [serve] section, or NULL */
    int no_webhooks;             /* 1: do not register webhooks */
    int ecom_oslo;               /* 1: store oslo uses flow = ecom-qr (eCom + QR API,
                                    callbacks to the daemon) */
} kvt_serve_opts;

typedef struct kvt_serve_env {
    char *dir;           /* scratch folder of this fixture */
    char *conf;          /* config path */
    char sim_url[128];
    char url[128];       /* daemon base URL (fixed port across restarts) */
    char printer_uri[128];
    char *printer_dir;   /* vprinter job folder, or NULL */
    char *serve_log;     /* daemon stderr */
    char *journal;       /* the config's journal: a file, or a PostgreSQL DSN
                            when KVITT_TEST_JOURNAL=pg (tests/lib/kvpg.h) */
    kvt_proc *sim, *printer, *serve;
} kvt_serve_env;

/* Start sim (+ vprinter), write the config, start the daemon and register
 * webhooks.  name makes the folder unique.  Returns 0 or -1 (with a
 * message on stdout). */
int kvt_serve_setup(kvt_serve_env *e, const char *name, const kvt_serve_opts *o);
/* (Re)start the daemon with extra environment (may be NULL). 0 or -1. */
int kvt_serve_start(kvt_serve_env *e, const char *const envp[]);
/* Another instance of the daemon on the same configuration (same journal;
 * conf names another file when not NULL) listening on a free loopback
 * port, with extra environment envp (may be NULL); url (len bytes)
 * receives its base URL, its stderr goes to log.  Returns it once GET /readyz answers 200 (stop it
 * with kvt_proc_stop), NULL (with a message) when it did not get ready. */
kvt_proc *kvt_serve_spawn_instance(const kvt_serve_env *e, const char *conf, char *url,
                                   size_t len, const char *log, const char *const envp[]);
/* Stop the daemon with sig and return its wait status. */
int kvt_serve_stop(kvt_serve_env *e, int sig);
/* Stop everything and free the strings. */
void kvt_serve_teardown(kvt_serve_env *e);

/* One request to the daemon; token/idem/body may be NULL. */
int kvt_serve_req(kvt_http_resp *r, const kvt_serve_env *e, const char *method,
                  const char *path, const char *token, const char *idem, const char *body);
/* One request as the cashier page sends it: to base + path with the
 * session cookie value (kvitt_till), the X-CSRF-Token, one extra header
 * line ("Name: value") and a JSON body; each may be NULL.  0 or -1 as
 * kvt_http (30 s). */
int kvt_serve_req_page(kvt_http_resp *r, const char *base, const char *method, const char *path,
                       const char *cookie, const char *csrf, const char *extra,
                       const char *body);
/* One request to the simulator (control endpoints). */
int kvt_sim_req(kvt_http_resp *r, const kvt_serve_env *e, const char *method,
                const char *path, const char *body);

/* A top-level string member of a JSON text, malloc'd; NULL when absent. */
char *kvt_json_str(const char *json, const char *key);
/* A top-level number member, or def. */
double kvt_json_num(const char *json, const char *key, double def);

/* Poll GET /v1/payments/REF until its state is `state` (or any final state
 * when state is NULL), at most timeout_ms.  Returns the last body
 * (malloc'd) when reached, NULL otherwise. */
char *kvt_serve_wait_state(const kvt_serve_env *e, const char *token, const char *ref,
                           const char *state, int timeout_ms);

/* A payment's event feed as a till read it: the events that carry an id
 * ("seq": the journaled ones), in the order they came. */
#define KVT_FEED_MAX 64
typedef struct kvt_feed {
    int n;
    int seq[KVT_FEED_MAX];
    char type[KVT_FEED_MAX][12];
    char state[KVT_FEED_MAX][16];
    int final;         /* an answer said "final": true (long-poll) / the stream ended */
    int answers;       /* long-poll answers read */
    int empty;         /* of which carried no event and were not final (wait ran out) */
} kvt_feed;
/* Long-poll base's feed of ref (`?after=*after&wait=wait_s`), appending to
 * f and advancing *after, until an answer is final, an event with state
 * until_state came (when not NULL) or max_polls answers were read.
 * Returns 0, or -1 when a request failed (status other than 200). */
int kvt_feed_follow(const char *base, const char *token, const char *ref, int *after,
                    int wait_s, int max_polls, const char *until_state, kvt_feed *f);
/* Read base's feed of ref as server-sent events with Last-Event-ID:
 * last_id (NULL: none) until the daemon ends the stream (at most
 * timeout_ms); f->final = 1 when it ended with a result.  0 or -1. */
int kvt_feed_sse(const char *base, const char *token, const char *ref, const char *last_id,
                 int timeout_ms, kvt_feed *f);

/* Does got hold exactly the events of want after `after` (the same ids,
 * types and states, in order: after+1, after+2, ... without a gap or a
 * repeat) and end with the result?  0, or -1 with the first difference
 * in why. */
int kvt_feed_check(const kvt_feed *want, int after, const kvt_feed *got, char *why, size_t len);

/* The customer approves REF at the simulator (its control endpoint; the
 * simulator then sends the AUTHORIZED webhook).  Returns the HTTP status,
 * 0 without an answer. */
long kvt_sim_approve(const kvt_serve_env *e, const char *ref);

/* Count of requests the simulator saw for "METHOD path" (from
 * GET /sim/v1/stats), -1 when the stats cannot be read. */
int kvt_sim_count(const kvt_serve_env *e, const char *method_path);

/* Deliveries of webhook event (e.g. "user.checked-in.v1") that the daemon
 * answered 2xx, from the simulator's delivery log. */
int kvt_sim_delivered(const kvt_serve_env *e, const char *event);
/* The same, polled until at least want or timeout_ms passed. */
int kvt_sim_wait_delivered(const kvt_serve_env *e, const char *event, int want, int timeout_ms);

/* Number of recorded jobs in dir whose bytes contain needle. */
int kvt_jobs_containing(const char *dir, const char *needle);
/* The same for jobs that also contain the alen bytes at also (NULL: any). */
int kvt_jobs_with(const char *dir, const char *needle, const void *also, size_t alen);
/* The same, polled until at least `want` jobs are there or timeout_ms
 * passed (the vprinter files a job when its connection closes). */
int kvt_jobs_wait(const char *dir, const char *needle, int want, int timeout_ms);

#endif
