/* certify_int.h - internals shared by the files of src/certify/. */
#ifndef KV_CERTIFY_INT_H
#define KV_CERTIFY_INT_H

#include <pthread.h>
#include <time.h>

#include "src/certify/certify.h"
#include "src/flow/flow.h"
#include "src/vipps/vipps.h"

typedef enum { R_NOT_RUN = 0, R_PASSED, R_FAILED, R_UNVERIFIED } cert_result;

/* One HTTP request as the client logged it (secrets masked). */
typedef struct cert_req {
    char method[8];
    char path[256];
    char *headers;       /* "Name: value\n" lines, malloc'd */
    char *body;          /* request body or NULL, malloc'd */
} cert_req;

/* One payment of the tour. */
typedef struct cert_pay {
    char ref[36];         /* <prefix>-cert-<run id>-<n>, at most 34 characters */
    const char *role;    /* "captured", "partial", ... (static) */
    int64_t amount;
    int created;         /* the create was answered */
    int have;            /* last holds a successful GET */
    kv_vipps_payment last;
    kv_vipps_event *ev;
    size_t nev;
    char final[48];      /* derived final state, "" unknown */
    char note[256];      /* step in progress / last step done */
} cert_pay;

/* One checklist line. */
typedef struct cert_line {
    const char *id;
    const char *title;
    cert_result result;
    int pay;             /* index into pays, -1 none */
    int req;             /* index into reqs of the proving request, -1 */
    char expect[24];     /* final state the line needs, "" any */
    char reason[768];
} cert_line;

/* Webhook receiver (receiver.c). */
typedef struct cert_delivery {
    char reference[65];
    char name[24];
    int verified;        /* HMAC checked OK against the registration */
} cert_delivery;

typedef struct cert_receiver cert_receiver;

struct kv_certify {
    const kv_config *cfg;
    const kv_store *store;
    kv_certify_env env;
    char base_url[256];
    char run_id[24];
    char phone[20];
    int force_approve;
    int wait_for_app;
    int qr_design_approved;
    int approve_timeout_s;
    int webhook_wait_s;
    int64_t amount;
    char out_dir[1024];
    kv_certify_progress_fn progress;
    void *user;
    const volatile sig_atomic_t *stop;
    char started[32];

    kv_vipps_client *client;
    /* masking: values that never leave the module */
    char mask[4][256];

    cert_req *reqs;
    size_t nreqs, capreqs;
    int in_req;          /* the log is inside a request's header block */

    cert_pay pays[6];
    size_t npays;
    cert_line *lines;
    size_t nlines;

    /* webhooks */
    cert_receiver *rx;
    char wh_id[80];
    char wh_url[512];
    char wh_note[1200];  /* why the daemon's receiver is not usable */
    int wh_daemon;       /* the daemon's registration is used */
};

/* certify.c */
void kvc_say(kv_certify *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kvc_mask(const kv_certify *c, char *s);
cert_line *kvc_line(kv_certify *c, const char *id);
void kvc_set(cert_line *l, cert_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *kvc_result_name(cert_result r);
/* Append src to the string in dst (size len), cutting what does not fit. */
void kvc_cat(char *dst, size_t len, const char *src);
/* Index of the first request since `from` matching method and path suffix
 * (or -1). */
int kvc_find_req(const kv_certify *c, size_t from, const char *method, const char *suffix);

/* GET/POST to the simulator's control endpoints: HTTP status (0 = no
 * answer), body in *out (malloc'd) when out != NULL. */
long kvc_sim_http(const char *base, const char *method, const char *path, const char *body, char **out);

/* report.c: write both files into dir (0 or -1 with errno). */
int kvc_report_write(kv_certify *c, const char *dir);

/* receiver.c: a local webhook receiver on 127.0.0.1:0. */
int kvc_rx_start(cert_receiver **out, char *url, size_t urllen, char *err, size_t errlen);
/* The registration's secret and URL (copied) for verifying deliveries. */
void kvc_rx_arm(cert_receiver *rx, const char *secret, const char *url);
/* Deliveries so far (copied into out, at most max); returns the count. */
size_t kvc_rx_deliveries(cert_receiver *rx, cert_delivery *out, size_t max);
void kvc_rx_stop(cert_receiver *rx);

/* tour.c: the payment steps and the checks. */
void kvc_tour(kv_certify *c);
void kvc_webhooks_setup(kv_certify *c);
void kvc_webhooks_check(kv_certify *c);
void kvc_finish(kv_certify *c);

#endif
