/*
 * sim_int.h - internals of the simulator shared by the sim/ sources (not public).
 *
 * Every function here that takes a kv_sim expects s->mu to be held unless
 * it says otherwise.
 */
#ifndef KV_SIM_SIM_INT_H
#define KV_SIM_SIM_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "sim/sim.h"

struct MHD_Connection;
struct MHD_Daemon;

/* ---- requests and responses (transport independent) ---- */
typedef struct sim_req {
    const char *method;
    const char *path;          /* without the query string */
    const char *body;          /* NUL-terminated copy of the body */
    size_t len;
    struct MHD_Connection *conn;
    /* Without a connection (fuzzing): NULL-terminated name, value pairs. */
    const char *const *hdrs;
} sim_req;

#define SIM_MAX_HDR 4
typedef struct sim_resp {
    int status;                /* 0 = drop the connection, no answer */
    const char *ctype;         /* static string, NULL = no body type */
    char *body;                /* malloc'd or NULL */
    size_t len;
    int nhdr;
    char hname[SIM_MAX_HDR][40];
    char hval[SIM_MAX_HDR][200];
    int delay_ms;              /* extra delay before answering */
} sim_resp;

/* Header or query value of a request (borrowed), NULL when absent. */
const char *sim_header(const sim_req *rq, const char *name);
const char *sim_query(const sim_req *rq, const char *name);

/* ---- state ---- */
typedef enum { P_CREATED, P_AUTHORIZED, P_ABORTED, P_EXPIRED, P_TERMINATED } sim_pstate;
typedef enum { E_INITIATE, E_RESERVE, E_CANCEL, E_VOID, E_REJECTED, E_FAILED } sim_estate;

typedef struct sim_event {
    char name[16];             /* ePayment: CREATED...; eCom: INITIATE... */
    long long value;
    char psp[40];              /* pspReference / transactionId */
    char ts[40];
    char *idem;                /* idempotency key / X-Request-Id, or NULL */
    char *text;                /* eCom transactionText, or NULL */
    int success;
} sim_event;

typedef struct sim_payment {
    struct sim_payment *next;
    int ecom;                  /* 0 ePayment, 1 eCom */
    char msn[16];
    char ref[64];              /* reference / orderId */
    char currency[4];
    long long amount;
    int state;                 /* sim_pstate or sim_estate */
    long long authorized, captured, refunded, cancelled;
    char psp[40];
    char token[48];            /* customer-side token (QR, landing page) */
    char *redirect_url;
    char userflow[20];
    char qrformat[20];
    int qrsize;
    char *phone;               /* MSISDN when given */
    cJSON *metadata;
    char *description;
    double created_at;
    double expires_at;         /* CREATED/INITIATE -> expired after this */
    double auto_at;            /* 0 = no pending automatic action */
    int auto_action;           /* kv_sim_auto */
    double unknown_until;      /* magic 201: stays pending until then */
    /* eCom */
    char *callback_prefix;
    char *auth_token;
    char *fallback;
    char *txtext;
    int skip_landing;
    int opened;                /* eCom: QR opened in app (transactionId shown) */
    sim_event *ev;
    size_t nev, cap;
} sim_payment;

typedef struct sim_idem {
    struct sim_idem *next;
    char *scope;               /* "msn METHOD path" */
    char *key;
    char *req;                 /* request body as received */
    int status;
    const char *ctype;
    char *body;
    size_t len;
} sim_idem;

typedef struct sim_token {
    struct sim_token *next;
    char *token;
    int cred;                  /* index into the credentials table */
    double expires_at;
} sim_token;

typedef struct sim_rate {
    struct sim_rate *next;
    char *key;
    double *t;                 /* ring of the last `limit` call times */
    int n, head, limit;
} sim_rate;

typedef struct sim_hook {
    struct sim_hook *next;
    char id[40];
    char msn[16];
    char *url;
    char *secret;
    char **events;
    int nevents;
} sim_hook;

typedef struct sim_delivery {
    struct sim_delivery *next;
    unsigned long seq;
    char hook_id[40];          /* "" for eCom callbacks */
    char ref[64];
    char event[64];
    char *url;
    char *body;
    char *secret;              /* webhook HMAC key, NULL for callbacks */
    char *auth;                /* eCom authToken, may be NULL */
    int attempts, max_attempts;
    double next_at;
    int in_flight, done;       /* done: 1 delivered, -1 given up */
    long last_status;
} sim_delivery;

typedef struct sim_receipt {
    struct sim_receipt *next;
    char msn[16];
    char type[16];
    char *order_id;
    cJSON *receipt;
    cJSON *category;
} sim_receipt;

typedef struct sim_count {
    struct sim_count *next;
    char *key;
    long n;
} sim_count;

typedef struct sim_fault {
    struct sim_fault *next;
    char method[8];
    char *path;
    int count;
    char action[8];            /* status | drop | slow */
    int status;
    char errcode[16];
    int retry_after;
    int delay_ms;
    int after;
} sim_fault;

typedef struct sim_qr {
    struct sim_qr *next;
    char token[48];
    char *target;              /* text encoded in the QR */
    double expires_at;
} sim_qr;

typedef struct sim_report sim_report;   /* sim_report.c */
typedef struct sim_mgmt sim_mgmt;       /* sim_mgmt.c */

struct kv_sim {
    kv_sim_options o;
    char *host;
    char *phones;
    char url[128];
    int port;
    struct MHD_Daemon *d;
    pthread_t worker;
    int worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    unsigned long long rng;
    unsigned long seq;
    sim_payment *pay;
    sim_idem *idem;
    sim_token *tok;
    sim_rate *rate;
    sim_hook *hooks;
    sim_delivery *dq;
    sim_receipt *receipts;
    sim_count *counts;
    sim_count *keys;
    sim_count *nosys;          /* "METHOD path" of calls lacking Vipps-System-* */
    sim_fault *faults;
    sim_qr *qrs;
    struct sim_stk *stk;       /* stickers and customer tokens (sim_sticker.c) */
    FILE *record;              /* --record file or NULL */
    char *record_path;
    pthread_mutex_t record_mu;
    long tokens_issued;
    long deliveries_ok, deliveries_failed, deliveries_attempted;
    sim_report *report;        /* Report API state, NULL until first used */
    sim_mgmt *mgmt;            /* Management API state, NULL until first used */
};

/* ---- utilities (sim_util.c) ---- */
double sim_now(void);
unsigned long long sim_rand(kv_sim *s);
double sim_rand01(kv_sim *s);
/* Random lowercase hex into buf (n chars + NUL). */
void sim_rand_hex(kv_sim *s, char *buf, size_t n);
/* Random UUID v4 text (37 bytes). */
void sim_uuid(kv_sim *s, char out[37]);
/* RFC 3339 UTC with milliseconds. */
void sim_rfc3339(double t, char out[40]);
/* RFC 1123 ("Thu, 30 Mar 2023 08:38:32 GMT"). */
void sim_rfc1123(double t, char out[40]);
/* base64 of data, malloc'd (url=1: base64url without padding). */
char *sim_b64(const unsigned char *data, size_t len, int url);
char *sim_strdup(const char *s);
char *sim_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Webhook signing: fills the three headers.  Returns 0, -1 on bad url. */
int sim_sign(const char *secret, const char *url, const char *body, double t,
             char date[40], char hash[64], char **auth);
/* QR images of text: PNG edge `size` px / SVG.  malloc'd, NULL on error. */
unsigned char *sim_qr_png(const char *text, int size, size_t *len);
char *sim_qr_svg(const char *text, size_t *len);

/* ---- response helpers (sim_util.c) ---- */
void sim_resp_json(sim_resp *r, int status, cJSON *obj);   /* frees obj */
void sim_resp_text(sim_resp *r, int status, const char *ctype, const char *text);
void sim_resp_header(sim_resp *r, const char *name, const char *val);
/* RFC 7807 problem; errcode may be NULL; field/reason add a validation
 * extraDetail when non-NULL. */
void sim_problem(kv_sim *s, sim_resp *r, int status, const char *title,
                 const char *detail, const char *instance, const char *errcode);
void sim_problem_field(kv_sim *s, sim_resp *r, int status, const char *detail,
                       const char *instance, const char *field);
/* eCom error array [{errorGroup, errorCode, errorMessage, contextId}]. */
void sim_ecom_error(kv_sim *s, sim_resp *r, int status, const char *group,
                    const char *code, const char *msg);
/* Azure API Management error {"statusCode":n,"message":...}. */
void sim_apim_error(sim_resp *r, int status, const char *msg);

/* ---- routing and shared helpers (sim_api.c) ---- */
void sim_handle(kv_sim *s, const sim_req *rq, sim_resp *r);
sim_payment *sim_find(kv_sim *s, const char *msn, const char *ref, int ecom);
void sim_count_key(sim_count **list, const char *key);
/* 1 when msisdn (country code, digits only) is a known test user. */
int sim_phone_known(kv_sim *s, const char *msisdn);
/* 1 when v has minl..maxl characters, each alphanumeric or in extra. */
int sim_match_pattern(const char *v, size_t minl, size_t maxl, const char *extra);
/* 1 when v has minl..maxl characters, all decimal digits. */
int sim_all_digits(const char *v, size_t minl, size_t maxl);
/* Integer JSON number in [lo, hi] -> 1 and *out; else 0. */
int sim_json_int(const cJSON *n, long long lo, long long hi, long long *out);
/* String member k of object o (borrowed), NULL when absent or not a string. */
const char *sim_json_str(const cJSON *o, const char *k);
/* Sliding one-minute limit of `limit` calls per key (0 = none): 1 and
 * *retry_after (seconds) when this call is over the limit, else 0. */
int sim_rate_hit(kv_sim *s, const char *key, int limit, double now, int *retry_after);
/* sim_rate_hit on the key printed from fmt; over the limit: answer 429
 * with the API Management text and Retry-After, and return 1. */
int sim_rate_limited(kv_sim *s, sim_resp *r, int limit, double now, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Idempotency (Idempotency-Key, or eCom's X-Request-Id): when scope+key
 * was answered before, replay that answer into r (a different body: 409,
 * as eCom's error 93 when ecom, else a problem with conflict_code and
 * instance) and return 1; else 0. */
int sim_idem_check(kv_sim *s, const sim_req *rq, sim_resp *r, const char *scope,
                   const char *key, int ecom, const char *conflict_code, const char *instance);
/* Remember r as the answer to scope+key (not for 5xx, 429 or no answer). */
void sim_idem_store(kv_sim *s, const sim_req *rq, const sim_resp *r, const char *scope,
                    const char *key);

/* ---- access tokens and call authentication (sim_auth.c) ---- */
const kv_sim_cred *sim_creds(size_t *n);
/* POST /accesstoken/get. */
void sim_access_token(kv_sim *s, const sim_req *rq, sim_resp *r, double now);
/* Check token, subscription key and MSN of an API call: 0 with *credp and
 * msn set, -1 after answering r (eCom error format when ecom). */
int sim_authenticate(kv_sim *s, const sim_req *rq, sim_resp *r, int ecom, int *credp,
                     char msn[16]);

/* ---- ePayment events and the simulated customer (sim_customer.c) ---- */
void sim_tick(kv_sim *s, double now);
/* Customer actions: return 0 or -1 when the state does not allow it. */
int sim_customer_approve(kv_sim *s, sim_payment *p, double now);
int sim_customer_abort(kv_sim *s, sim_payment *p, double now);
int sim_customer_expire(kv_sim *s, sim_payment *p, double now);
/* New random pspReference (10 digits). */
void sim_new_psp(kv_sim *s, char out[40]);
/* {"currency": cur, "value": v}, caller owns it. */
cJSON *sim_amount_json(const char *cur, long long v);
/* An event as the API shows it (caller owns it); with_msn: the webhook
 * payload, which also names the sales unit. */
cJSON *sim_event_json(const sim_payment *p, const sim_event *e, int with_msn);
/* Record an ePayment event on p and queue it to the webhooks that want it. */
void sim_epay_event(kv_sim *s, sim_payment *p, const char *name, long long value,
                    const char *idem, int success, double now);

/* ---- ePayment API (sim_epay.c) ---- */
void sim_epay_route(kv_sim *s, const sim_req *rq, sim_resp *r, int ci, const char *msn,
                    char **seg, int nseg, double now);

/* ---- receipts and Order Management (sim_order.c) ---- */
/* Validate a receipt object: 1 after answering r with a 400, 0 when fine. */
int sim_check_receipt(kv_sim *s, sim_resp *r, const cJSON *rc, const char *instance, int epay);
/* Store a copy of receipt (may be NULL) for msn/type/order. */
void sim_store_receipt(kv_sim *s, const char *msn, const char *type, const char *order,
                       const cJSON *receipt);
sim_receipt *sim_find_receipt(kv_sim *s, const char *msn, const char *type, const char *order);
void sim_om_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                  int nseg);

/* ---- Webhooks API (sim_hooks.c) ---- */
void sim_hooks_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                     int nseg);

/* ---- eCom + QR (sim_ecom.c) ---- */
void sim_ecom_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                    char **seg, int nseg);
void sim_qr_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                  char **seg, int nseg);
void sim_ecom_callback(kv_sim *s, sim_payment *p, const char *status,
                       const char *errcode, const char *errmsg);
void sim_ecom_log(kv_sim *s, sim_payment *p, const char *op, long long amount, int ok,
                  const char *reqid, const char *text);

/* ---- webhooks delivery (sim_deliver.c) ---- */
void sim_enqueue(kv_sim *s, const char *hook_id, const char *ref, const char *event,
                 const char *url, const char *body, const char *secret, const char *auth,
                 int max_attempts);
/* Worker thread body: ticks and deliveries until s->stop. Takes s->mu itself. */
void *sim_worker(void *arg);

/* ---- control endpoints (sim_control.c) ---- */
void sim_control_route(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg);
/* Scripted or random fault for this request: 0 none; else fills r and
 * returns 1 (answer now) or 2 (run, then answer with *after). */
int sim_fault_check(kv_sim *s, const sim_req *rq, sim_resp *r, sim_resp *after);

/* ---- in-store flows (sim_sticker.c) ---- */
/* /qr/v1/merchant-callback[/{id}] (seg[2] == "merchant-callback"). */
void sim_sticker_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                       int nseg);
/* /qr/v1/exchange[/customer]. */
void sim_exchange_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                        int nseg);
/* /sim/v1/stickers/{id}/scan and /sim/v1/personal-qr: 1 when handled. */
int sim_sticker_control(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg);
/* ePayment create: a customer object holding personalQr or customerToken.
 * Returns 1 when it holds neither, 0 with *phone (borrowed) set, -1 after
 * filling r with the API's error (4060 / 4050). */
int sim_customer_resolve(kv_sim *s, sim_resp *r, const char *msn, const cJSON *cust,
                         const char *inst, const char **phone, double now);
/* Mark the customerToken of cust as used (single use). */
void sim_customer_token_used(kv_sim *s, const cJSON *cust);
void sim_sticker_free(kv_sim *s);

/* ---- Report API (sim_report.c) and Management API (sim_mgmt.c) ---- */
void sim_report_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                      char **seg, int nseg);
void sim_report_control(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg);
void sim_report_free(kv_sim *s);
void sim_mgmt_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                    char **seg, int nseg);
void sim_mgmt_free(kv_sim *s);

#endif
