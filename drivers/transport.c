/* transport.c - URI dispatch and the thin wrappers over a backend table. */
#include "drivers/transport.h"
#include "drivers/uri.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Scheme -> backend.  Static and const: no registry, no global state. */
static const kv_transport_ops *const backends[] = {
    &kv_transport_usb_ops,
    &kv_transport_tcp_ops,
    &kv_transport_serial_ops,
    &kv_transport_lp_ops,
    &kv_transport_virtual_ops,
};

const char *kv_transport_strerror(int st)
{
    switch ((kv_transport_status)st) {
    case KV_T_OK: return "ok";
    case KV_T_E_URI: return "bad printer address (URI)";
    case KV_T_E_NOT_FOUND: return "printer not found";
    case KV_T_E_ACCESS: return "no permission to use the printer";
    case KV_T_E_BUSY: return "printer is in use by another program";
    case KV_T_E_IO: return "printer I/O error";
    case KV_T_E_TIMEOUT: return "printer did not respond in time";
    case KV_T_E_DISCONNECTED: return "printer disconnected";
    case KV_T_E_NOMEM: return "out of memory";
    case KV_T_E_UNSUPPORTED: return "operation not supported by this printer connection";
    case KV_T_E_PRINTER: return "printer reports it cannot print";
    }
    return "unknown error";
}

const char *kv_printer_state_name(kv_printer_state s)
{
    switch (s) {
    case KV_PS_UNKNOWN: return "unknown";
    case KV_PS_READY: return "ready";
    case KV_PS_PAPER_NEAR_END: return "paper-near-end";
    case KV_PS_PAPER_OUT: return "paper-out";
    case KV_PS_COVER_OPEN: return "cover-open";
    case KV_PS_OFFLINE: return "offline";
    case KV_PS_ERROR: return "error";
    }
    return "unknown";
}

void kv__transport_seterr(kv_transport *t, const char *fmt, ...)
{
    va_list ap;
    if (!t)
        return;
    va_start(ap, fmt);
    vsnprintf(t->errmsg, sizeof t->errmsg, fmt, ap);
    va_end(ap);
}

static void put_err(const kv_transport_options *opt, const char *msg)
{
    if (opt && opt->errbuf && opt->errlen)
        snprintf(opt->errbuf, opt->errlen, "%s", msg);
}

int kv_transport_open(kv_transport **out, const char *uri,
                      const kv_transport_options *opt)
{
    char scheme[16], err[512];
    kv_uri parsed;
    int open_ms = opt && opt->open_timeout_ms > 0 ? opt->open_timeout_ms : 3000;
    int io_ms = opt && opt->io_timeout_ms > 0 ? opt->io_timeout_ms : 10000;

    err[0] = '\0';
    /* Validate the whole URI first so every backend gets the same clear
     * message for a typo. */
    int st = kv_uri_parse(&parsed, uri, err, sizeof err);
    if (st) {
        put_err(opt, err);
        return st;
    }
    if (kv_uri_scheme(uri, scheme, sizeof scheme)) {
        put_err(opt, "printer URI has no scheme");
        return KV_T_E_URI;
    }
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (strcmp(backends[i]->scheme, scheme))
            continue;
        kv_transport *t = NULL;
        st = backends[i]->open(&t, uri, open_ms, err, sizeof err);
        if (st || !t) {
            put_err(opt, err[0] ? err : kv_transport_strerror(st ? st : KV_T_E_IO));
            return st ? st : KV_T_E_IO;
        }
        t->ops = backends[i];
        t->io_timeout_ms = io_ms;
        t->errmsg[0] = '\0';
        *out = t;
        return KV_T_OK;
    }
    snprintf(err, sizeof err, "printer URI scheme '%s:' is not available in this build", scheme);
    put_err(opt, err);
    return KV_T_E_URI;
}

static int eff_timeout(const kv_transport *t, int timeout_ms)
{
    if (timeout_ms >= 0)
        return timeout_ms;
    return t->io_timeout_ms > 0 ? t->io_timeout_ms : 10000;
}

int kv_transport_write(kv_transport *t, const void *buf, size_t len,
                       size_t *written, int timeout_ms)
{
    size_t w = 0;
    int st = t->ops->write(t, buf, len, &w, eff_timeout(t, timeout_ms));
    if (w > len)
        w = len;
    if (written)
        *written = w;
    return st;
}

ssize_t kv_transport_read(kv_transport *t, void *buf, size_t len, int timeout_ms)
{
    if (!t->ops->read) {
        kv__transport_seterr(t, "%s:// printers cannot send replies back", t->ops->scheme);
        return KV_T_E_UNSUPPORTED;
    }
    return t->ops->read(t, buf, len, eff_timeout(t, timeout_ms));
}

int kv_transport_can_read(const kv_transport *t)
{
    return t && t->ops->read != NULL && !t->no_readback;
}

int kv_transport_end_job(kv_transport *t)
{
    return t->ops->end_job ? t->ops->end_job(t) : KV_T_OK;
}

void kv_transport_close(kv_transport *t)
{
    if (t)
        t->ops->close(t);
}

const char *kv_transport_scheme(const kv_transport *t)
{
    return t ? t->ops->scheme : "";
}

const char *kv_transport_errmsg(const kv_transport *t)
{
    return t ? t->errmsg : "";
}
