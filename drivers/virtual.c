/* virtual.c - job store (DIR/NNNN.bin) and the virtual:DIR transport. */
#include "drivers/virtual.h"
#include "drivers/status.h"
#include "drivers/uri.h"
#include "escpos/render.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct kv_jobstore {
    char dir[PATH_MAX];
    unsigned next; /* guess for the next free number; link() decides */
};

struct kv_job {
    kv_jobstore *js;
    int fd;
    size_t size;
    char tmp[PATH_MAX + 32];
};

static int mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    struct stat sb;
    if (stat(dir, &sb) < 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Highest NNNN.bin number in dir + 1 (1 when none). */
static unsigned scan_next(const char *dir)
{
    unsigned best = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t k = 0;
        unsigned long v = 0;
        while (isdigit((unsigned char)s[k]) && k < 9)
            v = v * 10 + (unsigned long)(s[k++] - '0');
        if (k >= 4 && !strcmp(s + k, ".bin") && v > best)
            best = (unsigned)v;
    }
    closedir(d);
    return best + 1;
}

int kv_jobstore_open(kv_jobstore **out, const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        snprintf(err, errlen, "virtual printer: empty directory name");
        return KV_T_E_URI;
    }
    if (mkdir_p(dir) < 0) {
        int e = errno;
        snprintf(err, errlen, "virtual printer: cannot use directory %s: %s", dir, strerror(e));
        return e == EACCES || e == EPERM ? KV_T_E_ACCESS : KV_T_E_IO;
    }
    if (access(dir, W_OK) < 0) {
        snprintf(err, errlen, "virtual printer: directory %s is not writable", dir);
        return KV_T_E_ACCESS;
    }
    kv_jobstore *js = calloc(1, sizeof *js);
    if (!js) {
        snprintf(err, errlen, "out of memory");
        return KV_T_E_NOMEM;
    }
    snprintf(js->dir, sizeof js->dir, "%s", dir);
    js->next = scan_next(dir);
    *out = js;
    return KV_T_OK;
}

void kv_jobstore_close(kv_jobstore *js)
{
    free(js);
}

const char *kv_jobstore_dir(const kv_jobstore *js)
{
    return js->dir;
}

int kv_job_begin(kv_jobstore *js, kv_job **out)
{
    kv_job *j = calloc(1, sizeof *j);
    if (!j)
        return KV_T_E_NOMEM;
    j->js = js;
    snprintf(j->tmp, sizeof j->tmp, "%s/.job-XXXXXX", js->dir);
    j->fd = mkostemp(j->tmp, O_CLOEXEC);
    if (j->fd < 0) {
        free(j);
        return KV_T_E_IO;
    }
    *out = j;
    return KV_T_OK;
}

int kv_job_append(kv_job *j, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t n = write(j->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KV_T_E_IO;
        p += n;
        len -= (size_t)n;
        j->size += (size_t)n;
    }
    return KV_T_OK;
}

size_t kv_job_size(const kv_job *j)
{
    return j->size;
}

void kv_job_abort(kv_job *j)
{
    if (!j)
        return;
    close(j->fd);
    unlink(j->tmp);
    free(j);
}

int kv_job_commit(kv_job *j, unsigned *number, char *path, size_t pathlen)
{
    kv_jobstore *js = j->js;
    char name[PATH_MAX + 32];
    int st = KV_T_OK;

    if (fchmod(j->fd, 0644) < 0 || fsync(j->fd) < 0) {
        kv_job_abort(j);
        return KV_T_E_IO;
    }
    unsigned n = js->next ? js->next : 1;
    for (int tries = 0;; tries++) {
        snprintf(name, sizeof name, "%s/%04u.bin", js->dir, n);
        if (link(j->tmp, name) == 0)
            break;
        if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EMLINK) {
            /* No hard links here (vfat, some network file systems):
             * reserve the number with an exclusive create, then rename
             * the finished job over the empty placeholder. */
            int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd >= 0) {
                close(fd);
                if (rename(j->tmp, name) == 0)
                    break;
                unlink(name);
                st = KV_T_E_IO;
                break;
            }
        }
        if (errno != EEXIST || tries > 100000) {
            st = KV_T_E_IO;
            break;
        }
        /* Another writer took n: look again, never reuse a number. */
        unsigned fresh = scan_next(js->dir);
        n = fresh > n ? fresh : n + 1;
    }
    close(j->fd);
    unlink(j->tmp);
    free(j);
    if (st)
        return st;
    js->next = n + 1;
    if (number)
        *number = n;
    if (path && pathlen)
        snprintf(path, pathlen, "%s", name);
    return KV_T_OK;
}

/* ---- the virtual:DIR transport ----------------------------------------- */

typedef struct {
    kv_transport base; /* must be first */
    kv_jobstore *js;
    kv_job *job;            /* current job, NULL until the first byte */
    char last[PATH_MAX + 32];
    long calls;             /* write calls so far (queries excluded) */
    long fail_after, fail_bytes;
    int fail_persistent;
    int has_state;
    kv_emu_state state;
    kv_emu_scanner scan;
    unsigned char reply[64];
    size_t nreply;
    int png;
    char profile[64];
} virt_t;

static int virt_open(kv_transport **out, const char *uri, int timeout_ms,
                     char *err, size_t errlen)
{
    kv_uri u;
    int st = kv_uri_parse(&u, uri, err, errlen);
    if (st)
        return st;
    virt_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return KV_T_E_NOMEM;
    }
    st = kv_jobstore_open(&t->js, u.path, err, errlen);
    if (st) {
        free(t);
        return st;
    }
    t->fail_after = u.fail_after;
    t->fail_bytes = u.fail_bytes;
    t->fail_persistent = u.fail_persistent;
    if (u.state[0] && kv_emu_state_parse(u.state, &t->state) == 0)
        t->has_state = 1;
    t->base.no_readback = !t->has_state;
    t->png = u.png;
    snprintf(t->profile, sizeof t->profile, "%s", u.profile);
    if (t->profile[0] && !kv_profile_find(t->profile)) {
        snprintf(err, errlen, "virtual URI: unknown profile '%s' (see kvitt profiles)",
                 t->profile);
        kv_jobstore_close(t->js);
        free(t);
        return KV_T_E_URI;
    }
    *out = &t->base;
    return KV_T_OK;
}

static int is_query(const unsigned char *p, size_t len)
{
    return len == 3 && ((p[0] == 0x10 && p[1] == 0x04 && p[2] >= 1 && p[2] <= 4) ||
                        (p[0] == 0x1D && p[1] == 0x72 && (p[2] == 1 || p[2] == 49)));
}

static int store(virt_t *t, const void *buf, size_t len)
{
    if (!t->job) {
        int st = kv_job_begin(t->js, &t->job);
        if (st) {
            kv__transport_seterr(&t->base, "virtual printer: cannot create a job file in %s: %s",
                                 kv_jobstore_dir(t->js), strerror(errno));
            return st;
        }
    }
    if (kv_job_append(t->job, buf, len)) {
        kv__transport_seterr(&t->base, "virtual printer: writing the job failed: %s",
                             strerror(errno));
        return KV_T_E_IO;
    }
    return KV_T_OK;
}

static int virt_write(kv_transport *bt, const void *buf, size_t len, size_t *written,
                      int timeout_ms)
{
    virt_t *t = (virt_t *)bt;
    *written = 0;
    if (t->has_state && is_query(buf, len)) {
        t->nreply += kv_emu_scan(&t->scan, t->state, buf, len, t->reply + t->nreply,
                                 sizeof t->reply - t->nreply);
        *written = len;
        return KV_T_OK;
    }
    t->calls++;
    if (t->fail_after >= 0 && t->calls > t->fail_after &&
        (t->fail_persistent || t->calls == t->fail_after + 1)) {
        /* Only the first failing call lets fail_bytes through. */
        size_t keep = t->fail_bytes > 0 && t->calls == t->fail_after + 1
                          ? (size_t)t->fail_bytes : 0;
        if (keep > len)
            keep = len;
        if (keep) {
            int st = store(t, buf, keep);
            if (st)
                return st;
            *written = keep;
        }
        kv__transport_seterr(bt, "injected fault on write call %ld (%s) after %zu of %zu bytes",
                             t->calls, t->fail_persistent ? "persistent" : "transient",
                             keep, len);
        return KV_T_E_IO;
    }
    if (len == 0)
        return KV_T_OK;
    int st = store(t, buf, len);
    if (st == KV_T_OK)
        *written = len;
    return st;
}

static ssize_t virt_read(kv_transport *bt, void *buf, size_t len, int timeout_ms)
{
    virt_t *t = (virt_t *)bt;
    size_t n = t->nreply < len ? t->nreply : len;
    memcpy(buf, t->reply, n);
    memmove(t->reply, t->reply + n, t->nreply - n);
    t->nreply -= n;
    return (ssize_t)n; /* replies are immediate: never wait */
}

static int virt_end_job(kv_transport *bt)
{
    virt_t *t = (virt_t *)bt;
    if (!t->job)
        return KV_T_OK;
    kv_job *j = t->job;
    t->job = NULL;
    int st = kv_job_commit(j, NULL, t->last, sizeof t->last);
    if (st) {
        t->last[0] = '\0';
        kv__transport_seterr(bt, "virtual printer: filing the job in %s failed",
                             kv_jobstore_dir(t->js));
        return st;
    }
    if (t->png) {
        char err[256];
        if (kv_job_render_png(t->last, t->profile, NULL, 0, err, sizeof err))
            kv__transport_seterr(bt, "job filed as %s, but no PNG: %s", t->last, err);
    }
    return KV_T_OK;
}

static void virt_close(kv_transport *bt)
{
    virt_t *t = (virt_t *)bt;
    if (!t)
        return;
    virt_end_job(bt);
    kv_jobstore_close(t->js);
    free(t);
}

const kv_transport_ops kv_transport_virtual_ops = {
    .scheme = "virtual",
    .open = virt_open,
    .write = virt_write,
    .read = virt_read,
    .end_job = virt_end_job,
    .close = virt_close,
};

const char *kv_transport_virtual_last_job(const kv_transport *t)
{
    if (!t || t->ops != &kv_transport_virtual_ops)
        return NULL;
    const virt_t *v = (const virt_t *)t;
    return v->last[0] ? v->last : NULL;
}

/* ---- PNG beside a job --------------------------------------------------- */

static int write_file_cb(void *ctx, const void *data, size_t len)
{
    return fwrite(data, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

int kv_job_render_png(const char *job_path, const char *profile_name,
                      char *png_path, size_t pathlen, char *err, size_t errlen)
{
    const kv_profile *p = profile_name && *profile_name ? kv_profile_find(profile_name)
                                                       : kv_profile_default();
    char out[PATH_MAX + 32];
    size_t n = strlen(job_path);
    if (!p) {
        snprintf(err, errlen, "unknown profile '%s' (see kvitt profiles)", profile_name);
        return KV_T_E_URI;
    }
    if (n >= 4 && !strcmp(job_path + n - 4, ".bin"))
        n -= 4;
    if (n + 5 > sizeof out) {
        snprintf(err, errlen, "job path too long");
        return KV_T_E_IO;
    }
    memcpy(out, job_path, n);
    strcpy(out + n, ".png");

    FILE *f = fopen(job_path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", job_path, strerror(errno));
        return KV_T_E_IO;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return KV_T_E_NOMEM;
    }
    kv_render_opts ro = KV_RENDER_OPTS_INIT;
    ro.profile = p;
    kv_renderer *r = NULL;
    kv_image *img = NULL;
    kv_render_status rs = kv_renderer_create(&r, &ro);
    if (rs == KV_RENDER_OK)
        rs = kv_render(r, buf, len, &img, NULL);
    free(buf);
    kv_renderer_destroy(r);
    if (rs != KV_RENDER_OK) {
        snprintf(err, errlen, "rendering %s failed: %s", job_path, kv_render_strerror(rs));
        return rs == KV_RENDER_E_NOMEM ? KV_T_E_NOMEM : KV_T_E_IO;
    }
    /* Write to a temporary name and rename: never a half-written PNG. */
    char tmp[PATH_MAX + 48];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    FILE *o = fopen(tmp, "wb");
    int bad = !o;
    if (o) {
        bad = kv_image_write_png(img, 1, write_file_cb, o) != KV_RENDER_OK;
        bad |= fclose(o) != 0;
    }
    kv_image_free(img);
    if (bad || rename(tmp, out) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
        unlink(tmp);
        return KV_T_E_IO;
    }
    if (png_path && pathlen)
        snprintf(png_path, pathlen, "%s", out);
    return KV_T_OK;
}
