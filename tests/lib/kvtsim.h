/*
 * kvtsim.h - helpers shared by the test_sim_* suites (tests/lib/kvtsim.c),
 * also used by test_vipps_sim_* (through kvtvipps.c and directly):
 * `kvitt sim` as a real child process on loopback, HTTP calls with libcurl
 * and a real HTTP receiver for webhooks and eCom callbacks.  The helpers
 * fail the running cmocka test on errors they cannot recover from.
 */
#ifndef KV_TESTS_KVTSIM_H
#define KV_TESTS_KVTSIM_H

#include <pthread.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "tests/lib/kvtest.h"

struct MHD_Daemon;

/* A running `kvitt sim`; url is its base URL ("http://127.0.0.1:port"). */
typedef struct {
    kvt_proc *proc;
    char url[128];
} kvts_sim;

/* An answer: status 0 and curl_err set when none came; json is the body
 * parsed when it is JSON (else NULL); hdrs the raw response headers. */
typedef struct {
    long status;
    int curl_err;
    char *body;
    size_t len;
    char hdrs[4096];
    size_t hlen;
    cJSON *json;
} kvts_resp;

/* An authenticated caller: the token and the header lines built from it. */
typedef struct {
    char token[4096];
    char auth[4200];
    char sub[300];
    char msn[64];
    const char *h[8];
    char idem[128];
} kvts_api;

/* One recorded delivery (the signature headers and the body, malloc'd). */
#define KVTS_MAXREC 64
typedef struct {
    char path[256];
    char host[128];
    char date[64];
    char hash[128];
    char auth[512];
    char *body;
} kvts_received;

/* A real HTTP server on loopback that records what it receives. */
typedef struct {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    kvts_received rec[KVTS_MAXREC];
    int n;
    int fail_first;  /* answer 500 to this many requests first */
    int seen;
} kvts_receiver;

/* ---- the simulator child process ---- */
/* Start `kvitt sim` on 127.0.0.1:0 with extra arguments (NULL-terminated,
 * may be NULL); 0 with s->url set, -1 on failure. */
int kvts_sim_start(kvts_sim *s, const char *const extra[]);
/* Stop it with SIGTERM and assert a clean exit (status 0). */
void kvts_sim_stop(kvts_sim *s);
/* Suite setup: curl, then a simulator with --write-config
 * $KVITT_TMP/kvitt.conf --seed 7.  Teardown stops both. */
int kvts_suite_setup(kvts_sim *s);
void kvts_suite_teardown(kvts_sim *s);

/* ---- HTTP client ---- */
/* One request to base+path; hdrs: NULL-terminated "Name: value" list.
 * r is filled (body parsed as JSON when it is); free with kvts_resp_free. */
void kvts_http(kvts_resp *r, const char *base, const char *method, const char *path,
               const char *const hdrs[], const char *body);
void kvts_resp_free(kvts_resp *r);
/* String / number at a dotted path ("aggregate.capturedAmount.value"),
 * NULL / -1 when absent. */
const char *kvts_jstr(const cJSON *o, const char *path);
double kvts_jnum(const cJSON *o, const char *path);
/* The ErrorCode of an RFC 7807 body; the errorCode of an eCom error array. */
const char *kvts_errcode(const kvts_resp *r);
const char *kvts_ecom_code(const kvts_resp *r);

/* ---- credentials and authenticated calls ---- */
/* The simulator's credential set of that name (fails the test if none). */
const kv_sim_cred *kvts_cred(const char *name);
/* POST /accesstoken/get with c's credentials for msn. */
void kvts_get_token(kvts_resp *r, const char *base, const kv_sim_cred *c, const char *msn);
/* Fetch a token and fill a's headers (msn NULL: the set's own). */
void kvts_login(kvts_api *a, const char *base, const char *credname, const char *msn);
/* Authenticated call; key = Idempotency-Key (or NULL). */
void kvts_call(kvts_resp *r, const char *base, kvts_api *a, const char *method, const char *path,
               const char *key, const char *body);
/* Authenticated call with one extra header line. */
void kvts_callh(kvts_resp *r, const char *base, kvts_api *a, const char *method, const char *path,
                const char *extra, const char *body);

/* ---- ePayment shortcuts ---- */
/* A create body (malloc'd); extra: more members or NULL. */
char *kvts_create_body(const char *ref, long value, const char *flow, const char *extra);
/* Create a QR payment and assert the status. */
void kvts_create(const char *base, kvts_api *a, const char *ref, long value, int expect);
void kvts_get_payment(kvts_resp *r, const char *base, kvts_api *a, const char *ref);
void kvts_expect_state(const char *base, kvts_api *a, const char *ref, const char *state);
void kvts_modify(kvts_resp *r, const char *base, kvts_api *a, const char *ref, const char *op,
                 const char *key, long value);
/* The test approve endpoint for a known test user. */
void kvts_approve(kvts_resp *r, const char *base, kvts_api *a, const char *ref);
void kvts_sleep_ms(int ms);

/* ---- the receiver ---- */
/* Listen on a free loopback port; the first fail_first requests get 500. */
void kvts_receiver_start(kvts_receiver *rv, int fail_first);
void kvts_receiver_stop(kvts_receiver *rv);
/* Wait until n requests were recorded (or timeout_ms); returns how many. */
int kvts_receiver_wait(kvts_receiver *rv, int n, int timeout_ms);

#endif
