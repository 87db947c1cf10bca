/*
 * usb.c - the USB printer transport over libusb (scheme "usb").
 *
 * See drivers/usb.h for the URI forms and the public extras (1284 device
 * ID, port status, discovery).  Facts used here: USB printer class
 * (interface class 07, subclass 01, protocol 01/02), class requests
 * GET_DEVICE_ID / GET_PORT_STATUS on the interface, usblp vs libusb and the
 * udev permission model (ESC/POS reference notes, section 2).
 */
#include "drivers/usb.h"
#include "drivers/usb_profiles.h"
#include "drivers/uri.h"

#include <errno.h>
#include <libusb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UDEV_RULE_FILE "udev/60-kvitt-printers.rules"
#define CURE_ACCESS \
    "no permission to open the USB device. Cure: install the udev rule " \
    UDEV_RULE_FILE " (`sudo make install-udev`, then replug the printer) and " \
    "add yourself to the lp group (`sudo usermod -aG lp $USER`, then log in again)"
#define CURE_BUSY \
    "the printer interface is busy: another program holds it (a CUPS queue " \
    "for this printer, or the usblp kernel driver that libusb could not detach). " \
    "Cure: remove or stop the CUPS queue (`lpadmin -x QUEUE` or `sudo systemctl stop cups`), " \
    "unload usblp (`sudo rmmod usblp`) or install the opt-in unbind rule " \
    "(`sudo make install-udev-unbind`), or print through lp:///dev/usb/lp0 instead"

typedef struct usb_handle {
    kv_transport base;            /* must be first */
    libusb_context *ctx;          /* owned, one per handle */
    libusb_device_handle *dev;    /* owned */
    uint16_t vid, pid;
    int config_value;             /* bConfigurationValue of the active config */
    int iface, alt, protocol;
    uint8_t ep_out, ep_in;
    uint16_t in_packet;           /* wMaxPacketSize of ep_in */
    int claimed;
    kv_usb_options opt;
    /* bytes read on bulk IN beyond what the caller asked for */
    uint8_t rbuf[512];
    size_t rpos, rlen;
} usb_handle;

void kv_usb_options_init(kv_usb_options *o)
{
    o->chunk = 4096;
    o->stall_retries = 3;
    o->control_timeout_ms = 500;
}

void kv_usb_discover_options_init(kv_usb_discover_options *o)
{
    o->control_timeout_ms = 300;
    o->all_devices = 0;
}

const char *kv_usb_openable_name(kv_usb_openable o)
{
    switch (o) {
    case KV_USB_OPEN_YES: return "yes";
    case KV_USB_OPEN_NO_PERMISSION: return "no permission";
    case KV_USB_OPEN_BUSY: return "busy";
    case KV_USB_OPEN_FAILED: return "failed";
    }
    return "unknown";
}

static void setmsg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setmsg(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static usb_handle *as_usb(kv_transport *t)
{
    if (!t || t->ops != &kv_transport_usb_ops) return NULL;
    return (usb_handle *)t;
}

/* ---- URI ------------------------------------------------------------- */

typedef struct {
    int any;              /* usb:// : first printer-class device */
    uint16_t vid, pid;
    char serial[128];     /* "" = any */
} usb_target;

/* The project's one URI grammar (drivers/uri.h): usb://, usb://VID:PID,
 * usb://VID:PID?serial=S (%XX-decoded). */
static int parse_uri(usb_target *t, const char *uri, char *err, size_t errlen)
{
    kv_uri u;
    int st = kv_uri_parse(&u, uri, err, errlen);
    if (st != KV_T_OK) return st;
    if (u.kind != KV_URI_USB) {
        setmsg(err, errlen, "not a usb URI: '%s' (expected usb://VID:PID or usb://)", uri);
        return KV_T_E_URI;
    }
    memset(t, 0, sizeof *t);
    t->any = !u.has_id;
    t->vid = (uint16_t)u.vid;
    t->pid = (uint16_t)u.pid;
    snprintf(t->serial, sizeof t->serial, "%s", u.serial);
    return KV_T_OK;
}

/* ---- descriptors ------------------------------------------------------ */

typedef struct {
    int found;
    int config_value, iface, alt, protocol;
    uint8_t ep_out, ep_in;
    uint16_t in_packet;
} printer_iface;

/* Find the first printer-class interface (07/01/01 or 02) with a bulk OUT
 * endpoint in the active configuration (or the first one when the active
 * one cannot be read).  Bidirectional alternates are preferred. */
static void find_printer_iface(libusb_device *d, printer_iface *pi)
{
    memset(pi, 0, sizeof *pi);
    struct libusb_config_descriptor *cfg = NULL;
    if (libusb_get_active_config_descriptor(d, &cfg) != 0 &&
        libusb_get_config_descriptor(d, 0, &cfg) != 0)
        return;
    for (int i = 0; i < cfg->bNumInterfaces && !(pi->found && pi->protocol == 2); i++) {
        const struct libusb_interface *itf = &cfg->interface[i];
        for (int a = 0; a < itf->num_altsetting; a++) {
            const struct libusb_interface_descriptor *id = &itf->altsetting[a];
            if (id->bInterfaceClass != LIBUSB_CLASS_PRINTER || id->bInterfaceSubClass != 1 ||
                (id->bInterfaceProtocol != 1 && id->bInterfaceProtocol != 2))
                continue;
            uint8_t out = 0, in = 0;
            uint16_t inpk = 0;
            for (int e = 0; e < id->bNumEndpoints; e++) {
                const struct libusb_endpoint_descriptor *ep = &id->endpoint[e];
                if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK)
                    continue;
                if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) {
                    if (!in) { in = ep->bEndpointAddress; inpk = ep->wMaxPacketSize; }
                } else if (!out) {
                    out = ep->bEndpointAddress;
                }
            }
            if (!out) continue;
            int proto = (id->bInterfaceProtocol == 2 && in) ? 2 : 1;
            if (pi->found && proto <= pi->protocol) continue;
            pi->found = 1;
            pi->config_value = cfg->bConfigurationValue;
            pi->iface = id->bInterfaceNumber;
            pi->alt = id->bAlternateSetting;
            pi->protocol = proto;
            pi->ep_out = out;
            pi->ep_in = proto == 2 ? in : 0;
            pi->in_packet = proto == 2 ? inpk : 0;
            if (proto == 2) break;
        }
    }
    libusb_free_config_descriptor(cfg);
}

/* String descriptor with our own timeout (libusb's ascii helper waits up to
 * a second per request).  UTF-16LE -> UTF-8; control characters -> '?'.
 * Returns 0 and fills out, or a libusb error. */
static int read_string(libusb_device_handle *h, uint8_t index, char *out, size_t outlen,
                       int timeout_ms)
{
    uint8_t buf[256];
    if (!index || outlen == 0) return LIBUSB_ERROR_NOT_FOUND;
    int r = libusb_control_transfer(h, LIBUSB_ENDPOINT_IN, LIBUSB_REQUEST_GET_DESCRIPTOR,
                                    LIBUSB_DT_STRING << 8, 0, buf, sizeof buf,
                                    (unsigned)timeout_ms);
    if (r < 0) return r;
    if (r < 4 || buf[1] != LIBUSB_DT_STRING) return LIBUSB_ERROR_IO;
    uint16_t lang = (uint16_t)(buf[2] | buf[3] << 8);
    r = libusb_control_transfer(h, LIBUSB_ENDPOINT_IN, LIBUSB_REQUEST_GET_DESCRIPTOR,
                                (uint16_t)(LIBUSB_DT_STRING << 8 | index), lang, buf, sizeof buf,
                                (unsigned)timeout_ms);
    if (r < 0) return r;
    if (r < 2 || buf[1] != LIBUSB_DT_STRING) return LIBUSB_ERROR_IO;
    size_t n = buf[0] < (unsigned)r ? buf[0] : (size_t)r;
    size_t o = 0;
    for (size_t i = 2; i + 1 < n; i += 2) {
        unsigned c = buf[i] | (unsigned)buf[i + 1] << 8;
        char tmp[3];
        size_t k;
        if (c == 0) break;
        if (c < 0x20 || c == 0x7f) { tmp[0] = '?'; k = 1; }
        else if (c < 0x80) { tmp[0] = (char)c; k = 1; }
        else if (c < 0x800) { tmp[0] = (char)(0xc0 | c >> 6); tmp[1] = (char)(0x80 | (c & 0x3f)); k = 2; }
        else if (c >= 0xd800 && c < 0xe000) { tmp[0] = '?'; k = 1; }
        else { tmp[0] = (char)(0xe0 | c >> 12); tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
               tmp[2] = (char)(0x80 | (c & 0x3f)); k = 3; }
        if (o + k >= outlen) break;
        memcpy(out + o, tmp, k);
        o += k;
    }
    /* trailing spaces are common in cheap firmwares */
    while (o > 0 && out[o - 1] == ' ') o--;
    out[o] = '\0';
    return 0;
}

/* ---- 1284 device ID -------------------------------------------------- */

int kv_usb_parse_device_id(char *out, size_t outlen, const uint8_t *reply, size_t n)
{
    if (!out || outlen == 0 || !reply || n < 2) return KV_T_E_IO;
    size_t be = (size_t)reply[0] << 8 | reply[1];
    size_t le = (size_t)reply[1] << 8 | reply[0];
    size_t len;
    if (be >= 2 && be <= n) len = be;
    else if (le >= 2 && le <= n) len = le;        /* little-endian firmwares */
    else len = n;                                  /* claims more than arrived */
    const uint8_t *id = reply + 2;
    size_t idlen = len - 2;
    while (idlen > 0 && (id[idlen - 1] == 0 || id[idlen - 1] == ' ')) idlen--;
    if (idlen == 0) return KV_T_E_IO;
    if (idlen >= outlen) idlen = outlen - 1;
    for (size_t i = 0; i < idlen; i++)
        out[i] = (id[i] < 0x20 || id[i] >= 0x7f) ? '?' : (char)id[i];
    out[idlen] = '\0';
    return KV_T_OK;
}

int kv_usb_device_id_field(char *out, size_t outlen, const char *id, const char *key)
{
    static const struct { const char *s, *l; } alias[] = {
        { "MFG", "MANUFACTURER" }, { "MDL", "MODEL" }, { "CMD", "COMMAND SET" },
        { "DES", "DESCRIPTION" }, { "SN", "SERIALNUMBER" }, { "CLS", "CLASS" },
    };
    const char *longk = NULL;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcasecmp(key, alias[i].s) == 0 || strcasecmp(key, alias[i].l) == 0) {
            key = alias[i].s; longk = alias[i].l;
        }
    if (!id || !out || outlen == 0) return 0;
    const char *p = id;
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        const char *colon = strchr(p, ':');
        const char *semi = strchr(p, ';');
        if (!colon || (semi && semi < colon)) {
            if (!semi) break;
            p = semi + 1;
            continue;
        }
        size_t klen = (size_t)(colon - p);
        while (klen > 0 && p[klen - 1] == ' ') klen--;
        int match = (strlen(key) == klen && strncasecmp(p, key, klen) == 0) ||
                    (longk && strlen(longk) == klen && strncasecmp(p, longk, klen) == 0);
        const char *v = colon + 1;
        const char *end = semi ? semi : v + strlen(v);
        if (match) {
            size_t vlen = (size_t)(end - v);
            if (vlen >= outlen) vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

kv_printer_state kv_usb_port_state(uint8_t status)
{
    if (status & KV_USB_PORT_PAPER_EMPTY) return KV_PS_PAPER_OUT;
    if (!(status & KV_USB_PORT_NOT_ERROR)) return KV_PS_ERROR;
    if (!(status & KV_USB_PORT_SELECTED)) return KV_PS_OFFLINE;
    return KV_PS_READY;
}

static int map_err(int r)
{
    switch (r) {
    case LIBUSB_ERROR_TIMEOUT: return KV_T_E_TIMEOUT;
    case LIBUSB_ERROR_NO_DEVICE: return KV_T_E_DISCONNECTED;
    case LIBUSB_ERROR_ACCESS: return KV_T_E_ACCESS;
    case LIBUSB_ERROR_BUSY: return KV_T_E_BUSY;
    case LIBUSB_ERROR_NOT_FOUND: return KV_T_E_NOT_FOUND;
    case LIBUSB_ERROR_NO_MEM: return KV_T_E_NOMEM;
    case LIBUSB_ERROR_NOT_SUPPORTED: return KV_T_E_UNSUPPORTED;
    default: return KV_T_E_IO;
    }
}

static int class_request(libusb_device_handle *h, int config, int iface, int alt, uint8_t req,
                         uint8_t *buf, uint16_t len, int timeout_ms)
{
    uint16_t windex = (uint16_t)((iface & 0xff) << 8 | (alt & 0xff));
    return libusb_control_transfer(h, LIBUSB_ENDPOINT_IN | LIBUSB_REQUEST_TYPE_CLASS |
                                   LIBUSB_RECIPIENT_INTERFACE, req, (uint16_t)config, windex,
                                   buf, len, (unsigned)timeout_ms);
}

static int get_device_id(libusb_device_handle *h, int config, int iface, int alt,
                         char *out, size_t outlen, int timeout_ms)
{
    uint8_t buf[1024];
    int r = class_request(h, config, iface, alt, KV_USB_REQ_GET_DEVICE_ID, buf, sizeof buf,
                          timeout_ms);
    if (r < 0) return r;
    return kv_usb_parse_device_id(out, outlen, buf, (size_t)r) == KV_T_OK ? 0 : LIBUSB_ERROR_IO;
}

int kv_usb_device_id(kv_transport *t, char *out, size_t outlen, int timeout_ms)
{
    usb_handle *u = as_usb(t);
    if (!u || !out || outlen == 0) return KV_T_E_UNSUPPORTED;
    int r = get_device_id(u->dev, u->config_value, u->iface, u->alt, out, outlen, timeout_ms);
    if (r < 0) {
        setmsg(u->base.errmsg, sizeof u->base.errmsg, "GET_DEVICE_ID: %s",
               r == LIBUSB_ERROR_TIMEOUT ? "the printer did not answer in time"
               : r == LIBUSB_ERROR_PIPE ? "the printer refused the request"
               : libusb_error_name(r));
        return map_err(r);
    }
    return KV_T_OK;
}

int kv_usb_port_status(kv_transport *t, uint8_t *out, int timeout_ms)
{
    usb_handle *u = as_usb(t);
    if (!u || !out) return KV_T_E_UNSUPPORTED;
    uint8_t b = 0;
    int r = class_request(u->dev, u->config_value, u->iface, u->alt,
                          KV_USB_REQ_GET_PORT_STATUS, &b, 1, timeout_ms);
    if (r < 0 || r != 1) {
        setmsg(u->base.errmsg, sizeof u->base.errmsg, "GET_PORT_STATUS: %s",
               r == LIBUSB_ERROR_TIMEOUT ? "the printer did not answer in time"
               : r == LIBUSB_ERROR_PIPE ? "the printer refused the request"
               : r >= 0 ? "empty answer" : libusb_error_name(r));
        return r < 0 ? map_err(r) : KV_T_E_IO;
    }
    *out = b;
    return KV_T_OK;
}

/* ---- listing what is attached (for "not found") ---------------------- */

static void describe_attached(libusb_device **list, ssize_t n, char *buf, size_t len)
{
    size_t o = 0;
    int printers = 0, others = 0;
    buf[0] = '\0';
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0) continue;
        printer_iface pi;
        find_printer_iface(list[i], &pi);
        if (!pi.found && !kv_usb_known_printer_id(dd.idVendor, dd.idProduct)) {
            if (dd.bDeviceClass != LIBUSB_CLASS_HUB) others++;
            continue;
        }
        int w = snprintf(buf + o, len - o, "%s%04x:%04x%s", printers ? ", " : "",
                         dd.idVendor, dd.idProduct, pi.found ? "" : " (no printer interface)");
        if (w < 0 || (size_t)w >= len - o) break;
        o += (size_t)w;
        printers++;
    }
    if (!printers)
        snprintf(buf, len, "no USB printer is attached (%d other USB device%s); "
                 "check the cable and power, and run `kvitt printers`",
                 others, others == 1 ? "" : "s");
}

/* ---- open / write / read / close -------------------------------------- */

static int usb_open(kv_transport **out, const char *uri, int timeout_ms, char *err, size_t errlen)
{
    usb_target tg;
    int st = parse_uri(&tg, uri, err, errlen);
    if (st != KV_T_OK) return st;
    (void)timeout_ms;

    usb_handle *u = calloc(1, sizeof *u);
    if (!u) { setmsg(err, errlen, "out of memory"); return KV_T_E_NOMEM; }
    u->base.ops = &kv_transport_usb_ops;
    kv_usb_options_init(&u->opt);

    int r = libusb_init(&u->ctx);
    if (r != 0) {
        setmsg(err, errlen, "libusb cannot start (%s): is /dev/bus/usb available?", libusb_error_name(r));
        free(u);
        return KV_T_E_IO;
    }
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(u->ctx, &list);
    if (n < 0) {
        setmsg(err, errlen, "cannot list USB devices (%s)", libusb_error_name((int)n));
        libusb_exit(u->ctx);
        free(u);
        return KV_T_E_IO;
    }

    int matched_id = 0, first_err = 0;
    libusb_device *chosen = NULL;
    printer_iface pi = { 0 };
    for (ssize_t i = 0; i < n && !chosen; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0) continue;
        if (!tg.any && (dd.idVendor != tg.vid || dd.idProduct != tg.pid)) continue;
        printer_iface cand;
        find_printer_iface(list[i], &cand);
        if (!cand.found) {
            if (!tg.any) matched_id = -1;   /* right ID, but no printer interface */
            continue;
        }
        matched_id = 1;
        libusb_device_handle *h = NULL;
        r = libusb_open(list[i], &h);
        if (r != 0) {
            if (!first_err) first_err = r;
            continue;
        }
        if (tg.serial[0]) {
            char sn[128] = "";
            if (read_string(h, dd.iSerialNumber, sn, sizeof sn, u->opt.control_timeout_ms) != 0 ||
                strcmp(sn, tg.serial) != 0) {
                libusb_close(h);
                continue;
            }
        }
        u->dev = h;
        u->vid = dd.idVendor;
        u->pid = dd.idProduct;
        pi = cand;
        chosen = list[i];
    }

    if (!chosen) {
        char attached[160];
        describe_attached(list, n, attached, sizeof attached);
        libusb_free_device_list(list, 1);
        libusb_exit(u->ctx);
        free(u);
        if (first_err == LIBUSB_ERROR_ACCESS) {
            setmsg(err, errlen, "%s", CURE_ACCESS);
            return KV_T_E_ACCESS;
        }
        if (first_err == LIBUSB_ERROR_BUSY) {
            setmsg(err, errlen, "%s", CURE_BUSY);
            return KV_T_E_BUSY;
        }
        if (first_err) {
            setmsg(err, errlen, "cannot open the USB device (%s)", libusb_error_name(first_err));
            return map_err(first_err);
        }
        if (matched_id < 0)
            setmsg(err, errlen, "the device has no printer-class interface (07/01/01 or 02); "
                   "a vendor-specific or virtual-COM firmware needs serial:// or lp:// instead");
        else if (tg.serial[0] && matched_id)
            setmsg(err, errlen, "no printer with serial number '%s'; attached printers: %s", tg.serial, attached);
        else if (tg.any)
            setmsg(err, errlen, "no USB printer found; attached: %s", attached);
        else
            setmsg(err, errlen, "printer %04x:%04x not found; attached printers: %s", tg.vid, tg.pid, attached);
        return KV_T_E_NOT_FOUND;
    }
    libusb_free_device_list(list, 1);

    u->config_value = pi.config_value;
    u->iface = pi.iface;
    u->alt = pi.alt;
    u->protocol = pi.protocol;
    u->ep_out = pi.ep_out;
    u->ep_in = pi.ep_in;
    u->in_packet = pi.in_packet;

    /* Linux only; elsewhere NOT_SUPPORTED and claiming decides. */
    (void)libusb_set_auto_detach_kernel_driver(u->dev, 1);
    r = libusb_claim_interface(u->dev, u->iface);
    if (r != 0) {
        if (r == LIBUSB_ERROR_BUSY)
            setmsg(err, errlen, "%s", CURE_BUSY);
        else if (r == LIBUSB_ERROR_ACCESS)
            setmsg(err, errlen, "%s", CURE_ACCESS);
        else if (r == LIBUSB_ERROR_NO_DEVICE)
            setmsg(err, errlen, "the printer was unplugged while opening it");
        else
            setmsg(err, errlen, "cannot claim interface %d (%s)", u->iface,
                   libusb_error_name(r));
        libusb_close(u->dev);
        libusb_exit(u->ctx);
        free(u);
        return map_err(r);
    }
    u->claimed = 1;
    if (u->alt != 0) {
        r = libusb_set_interface_alt_setting(u->dev, u->iface, u->alt);
        if (r != 0) {
            setmsg(err, errlen, "cannot select alternate setting %d of interface %d (%s)", u->alt, u->iface, libusb_error_name(r));
            libusb_release_interface(u->dev, u->iface);
            libusb_close(u->dev);
            libusb_exit(u->ctx);
            free(u);
            return map_err(r);
        }
    }
    *out = &u->base;
    return KV_T_OK;
}

static int usb_write(kv_transport *t, const void *buf, size_t len, size_t *written, int timeout_ms)
{
    usb_handle *u = as_usb(t);
    size_t done = 0;
    if (written) *written = 0;
    if (!u) return KV_T_E_UNSUPPORTED;
    const uint8_t *p = buf;
    int stalls = 0, idle = 0;
    while (done < len) {
        size_t want = len - done;
        if (want > u->opt.chunk) want = u->opt.chunk;
        if (want > 0x7fffffff) want = 0x7fffffff;
        int got = 0;
        int r = libusb_bulk_transfer(u->dev, u->ep_out, (unsigned char *)(uintptr_t)(p + done),
                                     (int)want, &got, (unsigned)(timeout_ms > 0 ? timeout_ms : 1));
        if (got > 0) {
            done += (size_t)got;
            idle = 0;
            stalls = 0;                          /* retries count per stuck chunk */
        }
        if (r == 0) {
            if (got == 0 && ++idle >= 3) {
                r = LIBUSB_ERROR_TIMEOUT;       /* accepted nothing, three times */
            } else {
                continue;                        /* full or short write: send the rest */
            }
        }
        if (r == LIBUSB_ERROR_TIMEOUT && got > 0)
            continue;                            /* slow printer, still moving */
        if (r == LIBUSB_ERROR_PIPE && stalls < u->opt.stall_retries) {
            stalls++;
            int c = libusb_clear_halt(u->dev, u->ep_out);
            if (c == 0) continue;
            r = c;
        }
        if (written) *written = done;
        const char *why;
        int st;
        switch (r) {
        case LIBUSB_ERROR_TIMEOUT:
            why = "the printer accepted no data within the timeout (offline, paper out, or cover open?)";
            st = KV_T_E_TIMEOUT;
            break;
        case LIBUSB_ERROR_PIPE:
            why = "the printer kept stalling the endpoint after clearing the halt";
            st = KV_T_E_IO;
            break;
        case LIBUSB_ERROR_NO_DEVICE:
            why = "the printer was unplugged";
            st = KV_T_E_DISCONNECTED;
            break;
        default:
            why = libusb_error_name(r);
            st = map_err(r);
            break;
        }
        setmsg(u->base.errmsg, sizeof u->base.errmsg,
               "job not printed: %zu of %zu bytes went out to usb %04x:%04x before the failure: %s",
               done, len, u->vid, u->pid, why);
        return st;
    }
    if (written) *written = done;
    return KV_T_OK;
}

static ssize_t usb_read(kv_transport *t, void *buf, size_t len, int timeout_ms)
{
    usb_handle *u = as_usb(t);
    if (!u) return KV_T_E_UNSUPPORTED;
    if (!u->ep_in) {
        /* A one-way interface never has anything to read: answer "nothing
         * arrived" at once, so status queries end as unknown, not failed. */
        setmsg(u->base.errmsg, sizeof u->base.errmsg,
               "usb %04x:%04x is unidirectional (protocol 01): it cannot send status", u->vid,
               u->pid);
        return 0;
    }
    if (len == 0) return 0;
    if (u->rpos == u->rlen) {
        /* Read a whole multiple of the packet size so a long answer cannot
         * overflow our buffer. */
        size_t ask = sizeof u->rbuf;
        if (u->in_packet && u->in_packet <= ask) ask -= ask % u->in_packet;
        int got = 0;
        int r = libusb_bulk_transfer(u->dev, u->ep_in, u->rbuf, (int)ask, &got,
                                     (unsigned)(timeout_ms > 0 ? timeout_ms : 1));
        if (r == LIBUSB_ERROR_PIPE) {
            (void)libusb_clear_halt(u->dev, u->ep_in);
            r = got > 0 ? 0 : LIBUSB_ERROR_TIMEOUT;
        }
        if (r != 0 && r != LIBUSB_ERROR_TIMEOUT) {
            setmsg(u->base.errmsg, sizeof u->base.errmsg, "reading from usb %04x:%04x: %s",
                   u->vid, u->pid,
                   r == LIBUSB_ERROR_NO_DEVICE ? "the printer was unplugged" : libusb_error_name(r));
            return map_err(r);
        }
        u->rpos = 0;
        u->rlen = got > 0 ? (size_t)got : 0;
        if (u->rlen == 0) return 0;
    }
    size_t n = u->rlen - u->rpos;
    if (n > len) n = len;
    memcpy(buf, u->rbuf + u->rpos, n);
    u->rpos += n;
    return (ssize_t)n;
}

static void usb_close(kv_transport *t)
{
    usb_handle *u = as_usb(t);
    if (!u) return;
    if (u->claimed) libusb_release_interface(u->dev, u->iface);  /* re-attaches usblp */
    if (u->dev) libusb_close(u->dev);
    if (u->ctx) libusb_exit(u->ctx);
    free(u);
}

int kv_usb_set_options(kv_transport *t, const kv_usb_options *o)
{
    usb_handle *u = as_usb(t);
    if (!u || !o || o->chunk == 0 || o->stall_retries < 0) return KV_T_E_UNSUPPORTED;
    u->opt = *o;
    return KV_T_OK;
}

int kv_usb_endpoints(const kv_transport *t, uint8_t *ep_out, uint8_t *ep_in,
                     int *interface_number, int *protocol)
{
    if (!t || t->ops != &kv_transport_usb_ops) return KV_T_E_UNSUPPORTED;
    const usb_handle *u = (const usb_handle *)t;
    if (ep_out) *ep_out = u->ep_out;
    if (ep_in) *ep_in = u->ep_in;
    if (interface_number) *interface_number = u->iface;
    if (protocol) *protocol = u->protocol;
    return KV_T_OK;
}

const kv_transport_ops kv_transport_usb_ops = {
    .scheme = "usb",
    .open = usb_open,
    .write = usb_write,
    .read = usb_read,
    .end_job = NULL,
    .close = usb_close,
};

/* ---- discovery ---------------------------------------------------------- */

static void probe_device(libusb_device *d, const struct libusb_device_descriptor *dd,
                         const printer_iface *pi, kv_usb_printer *p, int tmo)
{
    libusb_device_handle *h = NULL;
    int r = libusb_open(d, &h);
    if (r != 0) {
        p->openable = r == LIBUSB_ERROR_ACCESS ? KV_USB_OPEN_NO_PERMISSION
                    : r == LIBUSB_ERROR_BUSY ? KV_USB_OPEN_BUSY : KV_USB_OPEN_FAILED;
        setmsg(p->why, sizeof p->why, "%s",
               r == LIBUSB_ERROR_ACCESS ? CURE_ACCESS
               : r == LIBUSB_ERROR_BUSY ? CURE_BUSY : libusb_error_name(r));
        return;
    }
    /* Strings first.  A device that lets one request time out is not asked
     * again (discovery must never hang on a mute firmware). */
    int answered = 0, asked = 0, mute = 0;
    const struct { uint8_t idx; char *dst; size_t len; } strs[] = {
        { dd->iManufacturer, p->manufacturer, sizeof p->manufacturer },
        { dd->iProduct, p->product, sizeof p->product },
        { dd->iSerialNumber, p->serial, sizeof p->serial },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !mute; i++) {
        if (!strs[i].idx) continue;
        asked++;
        r = read_string(h, strs[i].idx, strs[i].dst, strs[i].len, tmo);
        if (r == 0 || r == LIBUSB_ERROR_PIPE) answered++;   /* a stall is an answer too */
        else if (r == LIBUSB_ERROR_TIMEOUT || r == LIBUSB_ERROR_NO_DEVICE) mute = 1;
    }

    if (!pi->found) {
        p->openable = KV_USB_OPEN_FAILED;
        setmsg(p->why, sizeof p->why, "no printer-class interface (vendor-specific or "
               "virtual COM port firmware): use serial:// or lp:// if the kernel offers one");
    } else {
        int active = libusb_kernel_driver_active(h, pi->iface);
        if (active == 1) {
            /* usblp has it: kvitt detaches it on open.  Class requests to
             * an interface owned by a kernel driver would fail, so the
             * 1284 ID is not asked for here. */
            p->openable = KV_USB_OPEN_YES;
            setmsg(p->why, sizeof p->why, "the usblp kernel driver is bound (/dev/usb/lp*); "
                   "kvitt detaches it while printing over usb://");
        } else {
            r = libusb_claim_interface(h, pi->iface);
            if (r == 0) {
                p->openable = KV_USB_OPEN_YES;
                if (!mute) {
                    asked++;
                    r = get_device_id(h, pi->config_value, pi->iface, pi->alt, p->device_id,
                                      sizeof p->device_id, tmo);
                    if (r == 0 || r == LIBUSB_ERROR_PIPE) answered++;
                }
                libusb_release_interface(h, pi->iface);
            } else if (r == LIBUSB_ERROR_BUSY) {
                p->openable = KV_USB_OPEN_BUSY;
                setmsg(p->why, sizeof p->why, "%s", CURE_BUSY);
            } else if (r == LIBUSB_ERROR_ACCESS) {
                p->openable = KV_USB_OPEN_NO_PERMISSION;
                setmsg(p->why, sizeof p->why, "%s", CURE_ACCESS);
            } else if (r == LIBUSB_ERROR_NO_DEVICE) {
                p->openable = KV_USB_OPEN_FAILED;
                setmsg(p->why, sizeof p->why, "unplugged during discovery");
            } else {
                p->openable = KV_USB_OPEN_FAILED;
                setmsg(p->why, sizeof p->why, "cannot claim interface %d: %s", pi->iface,
                       libusb_error_name(r));
            }
        }
    }
    p->answering = asked == 0 || answered > 0;
    libusb_close(h);
}

int kv_usb_discover(kv_usb_printer **out, size_t *count,
                    const kv_usb_discover_options *opts, char *err, size_t errlen)
{
    kv_usb_discover_options o;
    if (opts) o = *opts; else kv_usb_discover_options_init(&o);
    if (o.control_timeout_ms <= 0) o.control_timeout_ms = 300;

    libusb_context *ctx = NULL;
    int r = libusb_init(&ctx);
    if (r != 0) {
        setmsg(err, errlen, "libusb cannot start (%s): is /dev/bus/usb available?",
               libusb_error_name(r));
        return KV_T_E_IO;
    }
    libusb_device **list = NULL;
    ssize_t n = libusb_get_device_list(ctx, &list);
    if (n < 0) {
        setmsg(err, errlen, "cannot list USB devices (%s)", libusb_error_name((int)n));
        libusb_exit(ctx);
        return KV_T_E_IO;
    }
    kv_usb_printer *arr = NULL;
    size_t cnt = 0;
    if (n > 0) {
        arr = calloc((size_t)n, sizeof *arr);
        if (!arr) {
            libusb_free_device_list(list, 1);
            libusb_exit(ctx);
            setmsg(err, errlen, "out of memory");
            return KV_T_E_NOMEM;
        }
    }
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor dd;
        if (libusb_get_device_descriptor(list[i], &dd) != 0) continue;
        printer_iface pi;
        find_printer_iface(list[i], &pi);
        if (!pi.found && !kv_usb_known_printer_id(dd.idVendor, dd.idProduct) && !o.all_devices)
            continue;
        kv_usb_printer *p = &arr[cnt++];
        p->vid = dd.idVendor;
        p->pid = dd.idProduct;
        p->bus = libusb_get_bus_number(list[i]);
        p->address = libusb_get_device_address(list[i]);
        p->interface_number = pi.found ? pi.iface : -1;
        p->protocol = pi.found ? pi.protocol : 0;
        probe_device(list[i], &dd, &pi, p, o.control_timeout_ms);
        char mdl[128] = "";
        kv_usb_device_id_field(mdl, sizeof mdl, p->device_id, "MDL");
        p->profile = kv_usb_suggest_profile(p->vid, p->pid, p->product, mdl);
        if (p->serial[0] && strlen(p->serial) < 40)
            snprintf(p->uri, sizeof p->uri, "usb://%04x:%04x?serial=%.39s", p->vid, p->pid,
                     p->serial);
        else
            snprintf(p->uri, sizeof p->uri, "usb://%04x:%04x", p->vid, p->pid);
    }
    libusb_free_device_list(list, 1);
    libusb_exit(ctx);
    if (cnt == 0) { free(arr); arr = NULL; }
    *out = arr;
    *count = cnt;
    return KV_T_OK;
}

void kv_usb_printers_free(kv_usb_printer *list)
{
    free(list);
}
