/*
 * kvtvipps.h - helpers shared by the test_vipps_sim_* suites
 * (tests/lib/kvtvipps.c): the payment client (src/vipps) against the
 * simulator (kv_sim from sim/, the same server `kvitt sim` runs) started
 * in process on a free loopback port, and the simulator's control
 * endpoints (faults, request and key counts) over real HTTP.  The helpers
 * fail the running cmocka test on errors.  Nothing here is a mock.
 */
#ifndef KV_TESTS_KVTVIPPS_H
#define KV_TESTS_KVTVIPPS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "src/vipps/vipps.h"

/* The group state: the simulator's credential sets and a test phone.
 * The pointers refer to the simulator's static table (not owned). */
typedef struct {
    const kv_sim_cred *oslo;
    const kv_sim_cred *bergen;
    const kv_sim_cred *partner;
    char phone[32];              /* a known test MSISDN */
} kvtv_env;

/* cmocka group setup / teardown: libcurl's global state and a kvtv_env
 * in *state (freed by the teardown). */
int kvtv_setup(void **state);
int kvtv_teardown(void **state);

/* An in-process simulator on 127.0.0.1:0, quiet, seed 7; tweak (may be
 * NULL) changes the options first.  The caller destroys it. */
kv_sim *kvtv_start_sim(void (*tweak)(kv_sim_options *));

/* A client for credential set cr (msn NULL: the set's own), with short
 * test timeouts and backoff unless tweak sets them.  The caller destroys
 * it. */
kv_vipps_client *kvtv_client(kv_sim *s, const kv_sim_cred *cr, const char *msn,
                             kv_vipps_opts *tweak);

/* A client log sink collecting every line into buf (malloc'd, the caller
 * frees it). */
typedef struct {
    char *buf;
    size_t len;
} kvtv_log;
void kvtv_log_collect(kv_vipps_log_level lvl, const char *line, void *payload);

/* Call a simulator control endpoint and assert a 2xx; returns the parsed
 * JSON answer (the caller deletes it) or NULL. */
cJSON *kvtv_control(kv_sim *s, const char *method, const char *path, const char *body);
/* POST one fault rule (JSON) to /sim/v1/faults. */
void kvtv_fault(kv_sim *s, const char *json);
/* Requests the simulator counted for "METHOD path". */
long kvtv_sim_count(kv_sim *s, const char *method_path);
/* Times the simulator saw an idempotency key / X-Request-Id; *paths gets
 * on how many distinct "METHOD path" (should be one). */
long kvtv_key_seen(kv_sim *s, const char *key, int *paths);
/* Access tokens the simulator issued so far. */
long kvtv_tokens_issued(kv_sim *s);

/* Create a QR (text) payment with the key "<ref>-create"; asserts OK. */
void kvtv_create_qr(kv_vipps_client *c, const char *ref, int64_t amount,
                    kv_vipps_created *out);
/* Approve ref as the test phone; asserts OK. */
void kvtv_approve(kv_vipps_client *c, const kvtv_env *e, const char *ref);

#endif
