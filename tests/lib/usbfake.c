/* usbfake.c - emulated USB receipt printers on umockdev (see usbfake.h). */
#include "tests/lib/usbfake.h"
#include "tests/lib/kvtest.h"

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <linux/usbdevice_fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <umockdev.h>

#define MAX_DEVS 8

struct kvt_usbdev {
    GMutex lock;
    UMockdevIoctlBase *handler;       /* NULL when not emulated */
    char *strings[4];
    kvt_usbdev_cfg cfg;
    GByteArray *out;
    GByteArray *in;                   /* queued bulk IN bytes */
    uint8_t last_out_ep;
    long out_total;
    int gone;                         /* unplugged */
    int detached;                     /* cfg.kernel_driver detached */
    GList *done;                      /* completed URBs (UMockdevIoctlData *) to reap */
    GList *held;                      /* submitted, not completed */
    kvt_usbdev_stats st;
};

struct kvt_usbbed {
    UMockdevTestbed *tb;
    kvt_usbdev *devs[MAX_DEVS];
    int ndevs;
};

kvt_usbbed *kvt_usbbed_new(void)
{
    /* umockdev_in_mock_environment() looks at UMOCKDEV_DIR, which only a
     * testbed sets; the preload library is what must be there. */
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !strstr(pre, "umockdev-preload")) return NULL;
    kvt_usbbed *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->tb = umockdev_testbed_new();
    if (!b->tb) { free(b); return NULL; }
    return b;
}

static void dev_free(kvt_usbdev *d)
{
    if (!d) return;
    if (d->handler) g_object_unref(d->handler);
    for (int i = 0; i < 4; i++) free(d->strings[i]);
    g_list_free_full(d->done, (GDestroyNotify)umockdev_ioctl_data_unref);
    g_list_free_full(d->held, (GDestroyNotify)umockdev_ioctl_data_unref);
    g_byte_array_unref(d->out);
    g_byte_array_unref(d->in);
    g_mutex_clear(&d->lock);
    free(d);
}

void kvt_usbbed_free(kvt_usbbed *b)
{
    if (!b) return;
    g_object_unref(b->tb);
    for (int i = 0; i < b->ndevs; i++) dev_free(b->devs[i]);
    free(b);
}

/* Put a reply into a control URB: data follows the 8-byte setup packet. */
static void control_reply(UMockdevIoctlData *urbd, struct usbdevfs_urb *urb,
                          const void *data, size_t n)
{
    size_t room = urb->buffer_length > 8 ? (size_t)urb->buffer_length - 8 : 0;
    if (n > room) n = room;
    UMockdevIoctlData *buf = umockdev_ioctl_data_resolve(
        urbd, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, NULL);
    memcpy(buf->data + 8, data, n);
    umockdev_ioctl_data_unref(buf);
    urb->actual_length = (int)n;
    urb->status = 0;
}

/* Returns 1 when the URB completes now, 0 when it is held. */
static int on_control(kvt_usbdev *d, UMockdevIoctlData *urbd, struct usbdevfs_urb *urb,
                      const uint8_t *setup)
{
    uint8_t rt = setup[0], req = setup[1];
    unsigned wvalue = setup[2] | setup[3] << 8;
    if (d->cfg.hold_control) return 0;
    urb->status = -EPIPE;               /* default: stall (request not supported) */
    urb->actual_length = 0;
    if (rt == 0x80 && req == 6 && (wvalue >> 8) == 3) {      /* GET_DESCRIPTOR string */
        unsigned idx = wvalue & 0xff;
        uint8_t sd[256];
        size_t n;
        if (idx == 0) {
            sd[0] = 4; sd[1] = 3; sd[2] = 0x09; sd[3] = 0x04;   /* English (US) */
            n = 4;
        } else if (idx < 4 && d->strings[idx]) {
            const char *s = d->strings[idx];
            n = 2;
            for (; *s && n + 2 <= sizeof sd; s++) { sd[n++] = (uint8_t)*s; sd[n++] = 0; }
            sd[0] = (uint8_t)n; sd[1] = 3;
        } else {
            return 1;
        }
        control_reply(urbd, urb, sd, n);
    } else if (rt == 0xa1 && (req == 0 || req == 1)) {      /* printer class */
        memcpy(d->st.class_setup, setup, 8);
        d->st.class_requests++;
        if (req == 0 && d->cfg.device_id) {
            uint8_t id[1024];
            size_t n = strlen(d->cfg.device_id) + 2;
            if (n > sizeof id) n = sizeof id;
            if (d->cfg.device_id_le) { id[0] = (uint8_t)(n & 0xff); id[1] = (uint8_t)(n >> 8); }
            else { id[0] = (uint8_t)(n >> 8); id[1] = (uint8_t)(n & 0xff); }
            memcpy(id + 2, d->cfg.device_id, n - 2);
            control_reply(urbd, urb, id, n);
        } else if (req == 1) {
            control_reply(urbd, urb, &d->cfg.port_status, 1);
        }
    }
    return 1;
}

static int on_bulk_out(kvt_usbdev *d, UMockdevIoctlData *urbd, struct usbdevfs_urb *urb)
{
    d->st.out_urbs++;
    if ((size_t)urb->buffer_length > d->st.max_out_urb)
        d->st.max_out_urb = (size_t)urb->buffer_length;
    d->last_out_ep = urb->endpoint;
    if (d->cfg.stall_out > 0) {
        d->cfg.stall_out--;
        urb->status = -EPIPE;
        urb->actual_length = 0;
        return 1;
    }
    size_t n = (size_t)urb->buffer_length;
    if (d->cfg.max_per_urb && n > d->cfg.max_per_urb) n = d->cfg.max_per_urb;
    if (d->cfg.hold_out_after >= 0 && d->out_total >= d->cfg.hold_out_after) return 0;
    if (d->cfg.hold_out_after >= 0 && d->out_total + (long)n > d->cfg.hold_out_after)
        n = (size_t)(d->cfg.hold_out_after - d->out_total);
    if (d->cfg.unplug_after >= 0 && d->out_total + (long)n >= d->cfg.unplug_after) {
        n = (size_t)(d->cfg.unplug_after - d->out_total);
        d->gone = 1;                 /* this URB completes short, then the device is gone */
    }
    UMockdevIoctlData *buf = umockdev_ioctl_data_resolve(
        urbd, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, NULL);
    g_byte_array_append(d->out, buf->data, (guint)n);
    if (d->cfg.answer_status) {
        /* real-time status queries are answered as they arrive, even in
         * the middle of a job, as a real printer does */
        const uint8_t *b = buf->data;
        for (size_t i = 0; i + 2 < n; i++) {
            if (b[i] == 0x10 && b[i + 1] == 0x04 && b[i + 2] >= 1 && b[i + 2] <= 4)
                g_byte_array_append(d->in, &d->cfg.eot[b[i + 2]], 1);
            else if (b[i] == 0x1d && b[i + 1] == 0x72 && (b[i + 2] == 1 || b[i + 2] == 49))
                g_byte_array_append(d->in, &d->cfg.gs_r1, 1);
        }
    }
    umockdev_ioctl_data_unref(buf);
    d->out_total += (long)n;
    urb->actual_length = (int)n;
    urb->status = 0;
    return 1;
}

static int on_bulk_in(kvt_usbdev *d, UMockdevIoctlData *urbd, struct usbdevfs_urb *urb)
{
    if (d->in->len == 0) return 0;
    size_t n = d->in->len;
    if (n > (size_t)urb->buffer_length) n = (size_t)urb->buffer_length;
    UMockdevIoctlData *buf = umockdev_ioctl_data_resolve(
        urbd, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, NULL);
    memcpy(buf->data, d->in->data, n);
    umockdev_ioctl_data_unref(buf);
    g_byte_array_remove_range(d->in, 0, (guint)n);
    urb->actual_length = (int)n;
    urb->status = 0;
    return 1;
}

static gint same_client_addr(gconstpointer a, gconstpointer b)
{
    return ((const UMockdevIoctlData *)a)->client_addr != (gulong)b;
}

static gboolean handle(kvt_usbdev *d, UMockdevIoctlClient *c)
{
    gulong req = umockdev_ioctl_client_get_request(c);
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(c);

    if (d->gone && req != USBDEVFS_REAPURB && req != USBDEVFS_REAPURBNDELAY &&
        req != USBDEVFS_DISCARDURB && req != USBDEVFS_RELEASEINTERFACE) {
        umockdev_ioctl_client_complete(c, -1, ENODEV);
        return TRUE;
    }
    switch (req) {
    case USBDEVFS_GET_CAPABILITIES: {
        UMockdevIoctlData *v = umockdev_ioctl_data_resolve(arg, 0, sizeof(guint32), NULL);
        *(guint32 *)v->data = USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
                              USBDEVFS_CAP_REAP_AFTER_DISCONNECT;
        umockdev_ioctl_data_unref(v);
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    }
    case USBDEVFS_GETDRIVER: {
        if (!d->cfg.kernel_driver || d->detached) {
            umockdev_ioctl_client_complete(c, -1, ENODATA);   /* no kernel driver bound */
            return TRUE;
        }
        UMockdevIoctlData *v = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_getdriver), NULL);
        struct usbdevfs_getdriver *gd = (struct usbdevfs_getdriver *)v->data;
        snprintf(gd->driver, sizeof gd->driver, "%s", d->cfg.kernel_driver);
        umockdev_ioctl_data_unref(v);
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    }
    case USBDEVFS_IOCTL: {  /* USBDEVFS_DISCONNECT / USBDEVFS_CONNECT of a kernel driver */
        UMockdevIoctlData *v = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_ioctl), NULL);
        int code = ((struct usbdevfs_ioctl *)v->data)->ioctl_code;
        umockdev_ioctl_data_unref(v);
        if (!d->cfg.kernel_driver) {
            umockdev_ioctl_client_complete(c, -1, ENODATA);
        } else if (code == (int)USBDEVFS_DISCONNECT && !d->detached) {
            d->detached = 1;
            d->st.detaches++;
            umockdev_ioctl_client_complete(c, 0, 0);
        } else if (code == (int)USBDEVFS_CONNECT && d->detached) {
            d->detached = 0;
            d->st.reattaches++;
            umockdev_ioctl_client_complete(c, 0, 0);
        } else {
            umockdev_ioctl_client_complete(c, -1, ENODATA);
        }
        return TRUE;
    }
    case USBDEVFS_DISCONNECT_CLAIM:
        if (d->cfg.claim_busy) {
            umockdev_ioctl_client_complete(c, -1, EBUSY);
            return TRUE;
        }
        if (d->cfg.kernel_driver && !d->detached) {
            d->detached = 1;
            d->st.detaches++;
        }
        d->st.claims++;
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    case USBDEVFS_CLAIMINTERFACE:
        if (d->cfg.claim_busy || (d->cfg.kernel_driver && !d->detached)) {
            umockdev_ioctl_client_complete(c, -1, EBUSY);
        } else {
            d->st.claims++;
            umockdev_ioctl_client_complete(c, 0, 0);
        }
        return TRUE;
    case USBDEVFS_RELEASEINTERFACE:
        d->st.releases++;
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    case USBDEVFS_CLEAR_HALT:
        d->st.clear_halts++;
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    case USBDEVFS_RESET: case USBDEVFS_RESETEP: case USBDEVFS_SETINTERFACE:
    case USBDEVFS_SETCONFIGURATION: case USBDEVFS_CONNECT: case USBDEVFS_DISCONNECT:
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    case USBDEVFS_SUBMITURB: {
        UMockdevIoctlData *urbd = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), NULL);
        struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urbd->data;
        int now;
        if (urb->type == USBDEVFS_URB_TYPE_CONTROL) {
            UMockdevIoctlData *buf = umockdev_ioctl_data_resolve(
                urbd, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), (gsize)urb->buffer_length, NULL);
            uint8_t setup[8];
            memcpy(setup, buf->data, 8);
            umockdev_ioctl_data_unref(buf);
            now = on_control(d, urbd, urb, setup);
        } else if (urb->endpoint & 0x80) {
            now = on_bulk_in(d, urbd, urb);
        } else {
            now = on_bulk_out(d, urbd, urb);
        }
        if (now) d->done = g_list_append(d->done, urbd);
        else d->held = g_list_append(d->held, urbd);
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    }
    case USBDEVFS_DISCARDURB: {
        GList *l = g_list_find_custom(d->held, *(void **)arg->data, same_client_addr);
        if (!l) { umockdev_ioctl_client_complete(c, -1, EINVAL); return TRUE; }
        UMockdevIoctlData *urbd = l->data;
        d->held = g_list_delete_link(d->held, l);
        struct usbdevfs_urb *urb = (struct usbdevfs_urb *)urbd->data;
        urb->status = -ENOENT;
        urb->actual_length = 0;
        d->done = g_list_append(d->done, urbd);
        d->st.discards++;
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    }
    case USBDEVFS_REAPURB:
    case USBDEVFS_REAPURBNDELAY: {
        if (!d->done) {
            umockdev_ioctl_client_complete(c, -1, d->gone && !d->held ? ENODEV : EAGAIN);
            return TRUE;
        }
        UMockdevIoctlData *urbd = d->done->data;
        d->done = g_list_delete_link(d->done, d->done);
        UMockdevIoctlData *p = umockdev_ioctl_data_resolve(arg, 0, sizeof(gpointer), NULL);
        umockdev_ioctl_data_set_ptr(p, 0, urbd);
        umockdev_ioctl_data_unref(p);
        umockdev_ioctl_data_unref(urbd);
        umockdev_ioctl_client_complete(c, 0, 0);
        return TRUE;
    }
    default:
        fprintf(stderr, "usbfake: unhandled ioctl 0x%lx\n", (unsigned long)req);
        return FALSE;
    }
}

static gboolean on_ioctl(UMockdevIoctlBase *h, UMockdevIoctlClient *c, gpointer user)
{
    (void)h;
    kvt_usbdev *d = user;
    g_mutex_lock(&d->lock);
    gboolean r = handle(d, c);
    g_mutex_unlock(&d->lock);
    return r;
}

kvt_usbdev *kvt_usbbed_add(kvt_usbbed *b, const char *fixture, const char *node,
                           int emulate, const char *const strings[4])
{
    if (!b || b->ndevs >= MAX_DEVS) return NULL;
    kvt_usbdev *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    g_mutex_init(&d->lock);
    d->out = g_byte_array_new();
    d->in = g_byte_array_new();
    d->cfg.port_status = 0x18;
    d->cfg.hold_out_after = -1;
    d->cfg.unplug_after = -1;
    for (int i = 0; i < 5; i++) d->cfg.eot[i] = 0x12;
    for (int i = 1; i < 4; i++)
        if (strings && strings[i]) d->strings[i] = strdup(strings[i]);
    b->devs[b->ndevs++] = d;
    if (emulate) {
        /* The handler must be in place before the device appears. */
        d->handler = umockdev_ioctl_base_new();
        g_signal_connect(d->handler, "handle-ioctl", G_CALLBACK(on_ioctl), d);
        GError *err = NULL;
        if (!umockdev_testbed_attach_ioctl(b->tb, node, d->handler, &err)) {
            fprintf(stderr, "usbfake: attach %s: %s\n", node, err ? err->message : "?");
            g_clear_error(&err);
            return NULL;
        }
    }
    char *path = kvt_path("%s/fixtures/usb/%s.umockdev", kvt_srcdir(), fixture);
    GError *err = NULL;
    gboolean ok = umockdev_testbed_add_from_file(b->tb, path, &err);
    if (!ok) fprintf(stderr, "usbfake: %s: %s\n", path, err ? err->message : "?");
    g_clear_error(&err);
    free(path);
    return ok ? d : NULL;
}

static int open_up(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    mode_t m = sb->st_mode & 07777;
    if (flag == FTW_D || flag == FTW_DP) m |= 0755;
    else if (S_ISSOCK(sb->st_mode)) m |= 0666;   /* umockdev's uevent / ioctl sockets */
    else if (S_ISREG(sb->st_mode) || S_ISCHR(sb->st_mode)) m |= 0444;
    else return 0;
    /* usbfs nodes: read-only for everybody, so that also a non-root test
     * user who owns the testbed files cannot open them for writing */
    if (strstr(path, "/dev/bus/usb/") && S_ISREG(sb->st_mode)) m = 0444;
    return chmod(path, m) == 0 ? 0 : -1;
}

int kvt_usbbed_restrict_nodes(kvt_usbbed *b)
{
    if (!b) return -1;
    gchar *root = umockdev_testbed_get_root_dir(b->tb);
    if (!root) return -1;
    int r = nftw(root, open_up, 16, FTW_PHYS) == 0 ? 0 : -1;
    /* the preload library creates its uevent sockets in the root */
    if (r == 0 && chmod(root, 01777) != 0) r = -1;
    g_free(root);
    return r;
}

kvt_usbdev_cfg *kvt_usbdev_config(kvt_usbdev *d)
{
    return &d->cfg;
}

void kvt_usbdev_queue_in(kvt_usbdev *d, const void *buf, size_t len)
{
    g_mutex_lock(&d->lock);
    g_byte_array_append(d->in, buf, (guint)len);
    g_mutex_unlock(&d->lock);
}

const uint8_t *kvt_usbdev_received(kvt_usbdev *d, size_t *len)
{
    g_mutex_lock(&d->lock);
    const uint8_t *p = d->out->data;
    *len = d->out->len;
    g_mutex_unlock(&d->lock);
    return p;
}

uint8_t kvt_usbdev_last_out_ep(kvt_usbdev *d)
{
    return d->last_out_ep;
}

void kvt_usbdev_stats_get(kvt_usbdev *d, kvt_usbdev_stats *out)
{
    g_mutex_lock(&d->lock);
    *out = d->st;
    g_mutex_unlock(&d->lock);
}

/* ---- the suites' usual devices ---- */

static const char *const T88_STRINGS[4] = { NULL, "EPSON", "TM-T88V", "J7PF012345" };
static const char *const POS58_STRINGS[4] = { NULL, "Printer", "POS58 Printer USB", NULL };
static const char *const ONEWAY_STRINGS[4] = { NULL, NULL, "Parallel Adapter", NULL };

kvt_usbworld *kvt_usbworld_new(unsigned devices)
{
    kvt_usbworld *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->bed = kvt_usbbed_new();
    if (!w->bed)
        return w;
    if (devices & KVT_USB_T88)
        w->t88 = kvt_usbbed_add(w->bed, "tm-t88", "/dev/bus/usb/001/002", 1, T88_STRINGS);
    if (devices & KVT_USB_POS58)
        w->pos58 = kvt_usbbed_add(w->bed, "pos58", "/dev/bus/usb/001/003", 1, POS58_STRINGS);
    if (devices & KVT_USB_KEYBOARD)
        w->kbd = kvt_usbbed_add(w->bed, "keyboard", "/dev/bus/usb/001/004", 0, NULL);
    if (devices & KVT_USB_ONEWAY)
        w->oneway = kvt_usbbed_add(w->bed, "oneway", "/dev/bus/usb/001/005", 1, ONEWAY_STRINGS);
    return w;
}

void kvt_usbworld_free(kvt_usbworld *w)
{
    if (!w)
        return;
    kvt_usbbed_free(w->bed);
    free(w);
}
