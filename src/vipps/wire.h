/*
 * wire.h - the pure (no I/O) request builders and response parsers of the
 * Vipps MobilePay client, for the client itself, the unit tests and the
 * fuzz target.  Not part of the stable API used by other modules.
 *
 * Ownership: builders return a malloc'd NUL-terminated JSON string
 * (free() it) or NULL on a bad argument / no memory.  Parsers never keep a
 * pointer into their input; they write caller-owned structs, only on
 * success.  All functions are reentrant (no shared state).
 */
#ifndef KV_VIPPS_WIRE_H
#define KV_VIPPS_WIRE_H

#include "src/vipps/vipps.h"

/* Free text for Vipps (text.c): a malloc'd copy without control, C1 or
 * bidi characters (tab/CR/LF become a space, bad UTF-8 '?', spaces
 * collapsed and trimmed); NULL in -> NULL, or no memory. */
char *kv_vipps__clean_text(const char *in);
/* Characters (code points) in a UTF-8 string. */
size_t kv_vipps__text_chars(const char *s);

/* ePayment create body; errbuf (may be NULL) gets a reason on failure. */
char *kv_vipps__build_create(const kv_vipps_create_req *req, char *errbuf,
                             size_t errlen);
/* {"modificationAmount":{"currency":..,"value":..}} */
char *kv_vipps__build_modification(int64_t amount, const char *currency);
/* cancel body: "{}" or {"cancelTransactionOnly":true} */
char *kv_vipps__build_cancel(int transaction_only);
/* Order Management receipt body (also used inside create). */
char *kv_vipps__build_receipt(const kv_vipps_receipt *r);
/* eCom initiate body. */
char *kv_vipps__build_ecom_initiate(const kv_vipps_ecom_req *req,
                                    const char *msn);
/* eCom capture/refund body (amount 0 = omitted: full capture). */
char *kv_vipps__build_ecom_amount(const char *msn, int64_t amount,
                                  const char *text);
char *kv_vipps__build_ecom_cancel(const char *msn, const char *text,
                                  int release_remaining);
/* Webhook registration body. */
char *kv_vipps__build_webhook(const char *url, unsigned int events);

/* Token response: access_token (malloc'd into *token, free()), absolute
 * expiry and lifetime in seconds.  expires_in/expires_on may be strings or
 * numbers; when expires_on is absent it is now + expires_in. */
kv_vipps_status kv_vipps__parse_token(char **token, time_t *expires_on,
                                      long *lifetime_s, const char *body,
                                      size_t len, time_t now);
kv_vipps_status kv_vipps__parse_created(kv_vipps_created *out,
                                        const char *body, size_t len);
/* GetPaymentResponse or ModificationResponse. */
kv_vipps_status kv_vipps__parse_payment(kv_vipps_payment *out,
                                        const char *body, size_t len);
kv_vipps_status kv_vipps__parse_events(kv_vipps_event **out, size_t *n,
                                       const char *body, size_t len);
kv_vipps_status kv_vipps__parse_ecom_initiate(char *url, size_t url_len,
                                              const char *body, size_t len);
kv_vipps_status kv_vipps__parse_qr(kv_vipps_qr *out, const char *body,
                                   size_t len);
kv_vipps_status kv_vipps__parse_ecom_details(kv_vipps_ecom_details *out,
                                             const char *body, size_t len);
kv_vipps_status kv_vipps__parse_ecom_result(kv_vipps_ecom_result *out,
                                            const char *body, size_t len);
kv_vipps_status kv_vipps__parse_webhook_reg(kv_vipps_webhook *out,
                                            const char *body, size_t len);
kv_vipps_status kv_vipps__parse_webhook_list(kv_vipps_webhook **out,
                                             size_t *n, const char *body,
                                             size_t len);

/* Fill *err from an error answer (RFC 7807, eCom error array, Azure
 * gateway {statusCode,message} or {responseInfo,...}, token gateway
 * {error,error_description}, or anything else).  `what` names the call for
 * the log text ("POST /epayment/v1/payments").  Never fails; digit runs
 * that could be phone numbers are masked in the texts it copies. */
void kv_vipps__parse_error(kv_vipps_error *err, kv_vipps_api api,
                           int http_status, const char *body, size_t len,
                           kv_vipps_lang lang, const char *what);
/* Error class for an HTTP status + code of an API. */
kv_vipps_err_class kv_vipps__classify(kv_vipps_api api, int http_status,
                                      int code);

/* Mask, in place, the values of JSON keys that hold secrets or phone
 * numbers ("access_token", "secret", "phoneNumber", "mobileNumber",
 * "customerPhoneNumber", "msisdn", "authToken", "client_secret", ...).
 * Every character of a value becomes '*'. */
void kv_vipps__mask_json(char *s);
/* Replace every occurrence of `secret` (len >= 4) in s by '*' runs. */
void kv_vipps__mask_str(char *s, const char *secret);
/* Replace every run of >= 8 digits by '*' (free text from the service). */
void kv_vipps__mask_digits(char *s);

/* Reference / key syntax checks (1 ok, 0 bad). */
int kv_vipps__valid_reference(const char *ref);
int kv_vipps__valid_key(const char *key, size_t max);
int kv_vipps__valid_phone(const char *p, size_t minlen, size_t maxlen);

#endif
