/*
 * proxy.h - `kvitt proxy`: a receipt-printer proxy for tills that can only
 * print.
 *
 * The proxy is the printer the till thinks it has.  It listens where the
 * till prints (raw TCP, a serial port, or the Linux USB printer gadget
 * /dev/g_printer0), cuts the stream into jobs (a cut command, the till's
 * connection closing, or an idle gap), and passes every job to the real
 * printer (any drivers/transport.h URI) byte for byte.  Status queries
 * from the till (DLE EOT n, GS r n, GS I n) get the real printer's answer,
 * or the last known one while the printer is busy with a held job or the
 * query sits inside a job that is still arriving.
 *
 * A rule (escpos/decoder.h decodes the job, the text is read in the till's
 * code page) says when a receipt asks for a Vipps payment and where its
 * amount is.  Such a job is held and journaled (src/journal/journal_proxy.h),
 * the till flow (src/flow/flow.h) prints the QR slip on the same printer,
 * waits and captures, and the held receipt is released with a paid block
 * before its cut, or marked NOT PAID with the reason.  A job the rule
 * cannot read safely (does not decode, matches twice, amount unreadable or
 * over the limit) passes unchanged with a short note for the cashier.
 *
 * Configuration: section [proxy NAME] (docs/proxy.md):
 *   listen   = tcp://HOST:PORT | serial:///dev/ttyS0?baud=9600 | gadget:///dev/g_printer0
 *   printer  = transport URI of the real printer
 *   store    = store id (default: [kvitt] default_store)
 *   profile  = printer profile of the till's output (default: the store's)
 *   match    = extended regular expression with (?<amount>...) or {amount}
 *   amount_format = comma (1 234,50 / 1.234,50; default) | point (1,234.50)
 *   max_amount = largest amount to charge, e.g. 20000.00 (default 100000.00)
 *   idle_ms  = idle gap that ends a job (default 400; 0 = only cut/close)
 *   cut_ends_job = yes | no (default yes)
 *   timeout_s = payment timeout (default: the store's)
 *
 * Ownership: a kv_proxy borrows the kv_config and the kv_flow given to
 * kv_proxy_create; both must outlive it.  Threads: kv_proxy_run runs the
 * I/O loop on the calling thread and one payment worker thread; every
 * other function is for one thread.  No global state.
 */
#ifndef KV_PROXY_H
#define KV_PROXY_H

/* The largest amount charged when max_amount is not set, in minor units
 * (100000.00): `kvitt proxy test-rule` applies the same. */
#define KV_PROXY_MAX_AMOUNT_DEFAULT 10000000

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "escpos/profile.h"
#include "src/config/config.h"

/* Status codes.  Append only; never renumber. */
typedef enum {
    KV_PROXY_OK = 0,
    KV_PROXY_E_CONFIG = -1,    /* bad [proxy NAME] section (message names the key) */
    KV_PROXY_E_LISTEN = -2,    /* cannot listen / open the till side */
    KV_PROXY_E_PRINTER = -3,   /* the real printer cannot be reached */
    KV_PROXY_E_NOMEM = -4,
    KV_PROXY_E_JOURNAL = -5,   /* the held job cannot be journaled */
    KV_PROXY_E_RULE = -6,      /* the rule found nothing usable in a job */
    KV_PROXY_E_ARG = -7
} kv_proxy_status;

const char *kv_proxy_strerror(kv_proxy_status st);

/* ---- rules (pure: no I/O) ------------------------------------------------ */

typedef struct kv_proxy_rule kv_proxy_rule;

typedef enum { KV_AMOUNT_COMMA = 0, KV_AMOUNT_POINT } kv_amount_format;

/* Compile a rule.  pattern: POSIX extended regular expression applied to
 * each decoded text line, with one group named amount: "(?<amount>RE)",
 * or "{amount}" as a shorthand for a group matching an amount in fmt.
 * max_minor: amounts above are refused (0 = no limit).  On failure returns
 * KV_PROXY_E_CONFIG with the reason in err. */
kv_proxy_status kv_proxy_rule_create(kv_proxy_rule **out, const char *pattern, kv_amount_format fmt,
                                     int64_t max_minor, char *err, size_t errlen);
void kv_proxy_rule_destroy(kv_proxy_rule *r);

/* Parse an amount as printed in Norway, Denmark and Finland ("149,00",
 * "1 234,50", "1.234,50", "149,-", "149"; fmt point: "1,234.50").  At most
 * two decimals; thousands groups of three.  Returns 0 and sets *minor, or
 * -1 with the reason in err. */
int kv_proxy_parse_amount(int64_t *minor, const char *text, kv_amount_format fmt, char *err,
                          size_t errlen);

/* What a rule found in one job. */
typedef enum {
    KV_RULE_NONE = 0,       /* not a payment: pass through */
    KV_RULE_PAY,            /* a payment of amount_minor */
    KV_RULE_BAD             /* looks like a payment but is unsafe: pass + note */
} kv_rule_verdict;

typedef struct kv_rule_result {
    kv_rule_verdict verdict;
    int64_t amount_minor;
    int matches;            /* lines that matched */
    int line;               /* 1-based number of the (first) matching line */
    char text[160];         /* the matching line, UTF-8 */
    char reason[200];       /* KV_RULE_BAD: why (for the cashier's note) */
} kv_rule_result;

/* Decode job (in profile's code page numbering; NULL = Epson) into text
 * lines and apply the rule. */
void kv_proxy_rule_eval(const kv_proxy_rule *r, const kv_profile *profile, const uint8_t *job,
                        size_t len, kv_rule_result *out);

/* Call fn for each decoded text line of job (UTF-8, no control bytes);
 * stops when fn returns non-zero.  Returns -1 when the job does not
 * decode as ESC/POS (unknown commands, a command cut off), else 0. */
typedef int (*kv_proxy_line_fn)(void *ctx, int lineno, const char *utf8);
int kv_proxy_text_lines(const kv_profile *profile, const uint8_t *job, size_t len,
                        kv_proxy_line_fn fn, void *ctx);

/* ---- the proxy -------------------------------------------------------------- */

typedef struct kv_proxy kv_proxy;

/* Forward declaration: src/flow/flow.h. */
struct kv_flow;

/* Read [proxy name] of cfg and prepare (no I/O yet).  flow may be NULL
 * (then a triggered job passes with a note: no payment client).  On
 * failure returns KV_PROXY_E_CONFIG with "key: problem; fix" in err. */
kv_proxy_status kv_proxy_create(kv_proxy **out, const kv_config *cfg, const char *name,
                                struct kv_flow *flow, char *err, size_t errlen);
void kv_proxy_destroy(kv_proxy *p);

/* Log one line per job and payment on f (NULL = quiet; default quiet). */
void kv_proxy_set_log(kv_proxy *p, FILE *f);

/* The compiled rule and profile of a proxy (borrowed). */
const kv_proxy_rule *kv_proxy_get_rule(const kv_proxy *p);
const kv_profile *kv_proxy_get_profile(const kv_proxy *p);

/* Print the receipts held when a previous run stopped (crash while
 * holding): each with its payment's outcome (paid block or NOT PAID), or
 * left held when the outcome is still unknown.  Call after
 * kv_flow_recover.  *printed / *left may be NULL. */
kv_proxy_status kv_proxy_recover(kv_proxy *p, int *printed, int *left);

/* kv_proxy_recover for every [proxy NAME] section of cfg (what `kvitt
 * recover` does after kv_flow_recover).  Counts are added to *printed and
 * *left (may be NULL).  Returns KV_PROXY_OK, or the first error (a bad
 * section is skipped, its message in err). */
kv_proxy_status kv_proxy_recover_all(const kv_config *cfg, struct kv_flow *flow, int *printed,
                                     int *left, char *err, size_t errlen);

/* Open the till side and serve until *stop becomes non-zero.  Prints one
 * line per job on log (may be NULL).  ready (may be NULL) is called once
 * listening, with the till-side address ("tcp://127.0.0.1:40123"). */
kv_proxy_status kv_proxy_run(kv_proxy *p, const volatile sig_atomic_t *stop, void (*ready)(void *,
                             const char *), void *ready_ctx, char *err, size_t errlen);

#endif
