/*
 * retry.c - the client's clock and retry timing: the budget of a call
 * (total_timeout_ms, cut by an outer deadline), full-jitter exponential
 * backoff, and Retry-After honoured as asked within the deadline.
 */
#include "src/vipps/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

double kv__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void kv_vipps_set_deadline_in(kv_vipps_client *c, long ms)
{
    c->outer_deadline = ms == 0 ? 0 : kv__mono_ms() + (double)(ms < 0 ? 1 : ms);
}

/* Start a call's budget: total_timeout_ms, cut by the outer deadline. */
void kv__budget_start(kv_vipps_client *c)
{
    c->deadline = kv__mono_ms() + (double)c->total_ms;
    if (c->outer_deadline > 0 && c->outer_deadline < c->deadline)
        c->deadline = c->outer_deadline;
}

/* Milliseconds left of the current call's budget. */
long kv__remaining_ms(const kv_vipps_client *c)
{
    double r = c->deadline - kv__mono_ms();
    return r > 0 ? (long)r : 0;
}

/* Sleep before a retry if the budget allows one more useful attempt
 * (at least 100 ms after the wait); returns 0 when out of time. */
int kv__wait_retry(kv_vipps_client *c, long ms)
{
    if (kv__remaining_ms(c) < ms + 100)
        return 0;
    sleep_ms(ms);
    return 1;
}

/* Full-jitter exponential backoff: uniform in [base*2^(n-1)/2, base*2^(n-1)]
 * capped at backoff_max. */
long kv__backoff(kv_vipps_client *c, int retry_no)
{
    long d = c->backoff_base;
    for (int i = 1; i < retry_no && d < c->backoff_max; i++)
        d *= 2;
    if (d > c->backoff_max)
        d = c->backoff_max;
    long half = d / 2;
    return half + (half > 0 ? (long)(rand_r(&c->rng) % (unsigned)(half + 1))
                            : 0);
}

/* Wait before the retry after attempt.  Without a Retry-After: the
 * backoff.  With one: the server's value exactly as asked (never shorter;
 * at least the backoff), bounded only by what is left of the call's
 * deadline and the caller's retry_after_max_s (0: no other bound; a longer ask ends the call).  When the
 * wait would pass the deadline nothing is slept: the error on the handle
 * says so and 0 is returned (the caller ends the call with the 429/503). */
int kv__wait_retry_after(kv_vipps_client *c, int attempt, long retry_after_s)
{
    long d = kv__backoff(c, attempt);
    if (retry_after_s < 0)
        return kv__wait_retry(c, d);
    long left = kv__remaining_ms(c);
    long ask = retry_after_s > 86400 ? 86400L * 1000 : retry_after_s * 1000L;
    if (ask > d)
        d = ask;
    int capped = c->retry_after_max > 0 && retry_after_s > c->retry_after_max;
    if (capped || left < d + 100) {
        size_t n = strlen(c->err.log);
        if (capped)
            snprintf(c->err.log + n, sizeof c->err.log - n,
                     "; the service asked to retry after Retry-After %ld s, longer than this "
                     "client waits (%ld s): not retried, try again later", retry_after_s,
                     c->retry_after_max);
        else
            snprintf(c->err.log + n, sizeof c->err.log - n,
                     "; the service asked to retry after Retry-After %ld s, more than the %ld ms "
                     "left of this call: not retried, try again later", retry_after_s, left);
        c->err.retry_after_s = retry_after_s;
        return 0;
    }
    sleep_ms(d);
    return 1;
}

