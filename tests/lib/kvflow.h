/*
 * kvflow.h - helpers for the end-to-end till flow suites (test_flow_*.c):
 * a real `kvitt sim` process with its written configuration (shortened
 * poll/expiry settings), HTTP calls to the simulator's test-control
 * endpoints, and reading `kvitt ... --json` results.  Nothing is mocked.
 */
#ifndef KV_TESTS_KVFLOW_H
#define KV_TESTS_KVFLOW_H

#include <stddef.h>

#include "tests/lib/kvtest.h"

typedef struct kvf_env {
    kvt_proc *sim;
    char url[128];       /* simulator base URL */
    char dir[512];       /* folder of the config, journal and printers */
    char conf[600];      /* the kvitt.conf path */
} kvf_env;

/* Start `kvitt sim --listen 127.0.0.1:0 --write-config DIR/kvitt.conf
 * --quiet <sim_args...>` in a fresh folder KVITT_TMP/name, then shorten
 * the config: poll_first_s = 1, poll_interval_ms = 500, payment_timeout_s
 * = 20.  Returns 0 or -1. */
int kvf_start(kvf_env *e, const char *name, const char *const sim_args[]);
/* Stop the simulator (SIGTERM). */
void kvf_stop(kvf_env *e);
/* Set key = value in section [kvitt] or [store oslo] (first line starting
 * with "key =" is replaced).  Returns 0 or -1. */
int kvf_set(kvf_env *e, const char *key, const char *value);

/* Same, but only inside the section named by header (e.g. "[store bergen]"). */
int kvf_set_in(kvf_env *e, const char *header, const char *key, const char *value);

/* The value of the first line "key = value" of the config (malloc'd,
 * free()), NULL when there is none; e.g. "journal": the journal's path, or
 * its database's DSN when the suite runs on PostgreSQL. */
char *kvf_get(kvf_env *e, const char *key);

/* Run `kvitt --config CONF <args...>` (args NULL-terminated) with extra
 * environment env (may be NULL). */
int kvf_kvitt(kvf_env *e, kvt_result *r, const char *const env[], const char *const args[]);

/* HTTP request to the simulator (path starts with '/'); returns the body
 * (malloc'd, free()) and sets *status; NULL when no answer. */
char *kvf_http(kvf_env *e, const char *method, const char *path, const char *body, long *status);
/* Script a fault (JSON body of POST /sim/v1/faults). Returns 0 or -1. */
int kvf_fault(kvf_env *e, const char *json);
/* Number of DISTINCT idempotency keys the simulator saw on paths ending in
 * suffix (e.g. "/capture") for reference ref, and the total sends of
 * them in *sends (may be NULL).  -1 on error. */
int kvf_keys(kvf_env *e, const char *ref, const char *suffix, int *sends);

/* String value of key in the first JSON object of text (malloc'd, free()),
 * NULL when absent.  Numbers and booleans are returned as text. */
char *kvf_json(const char *text, const char *key);
/* Count files DIR/printer/<store>/NNNN.bin. */
int kvf_jobs(kvf_env *e, const char *store);
/* 1 when the file contains the bytes of needle. */
int kvf_file_has(const char *path, const char *needle);

#endif
