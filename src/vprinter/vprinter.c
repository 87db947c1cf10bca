/* vprinter.c - network printer emulator (see vprinter.h). */
#include "src/vprinter/vprinter.h"
#include "drivers/virtual.h"
#include "escpos/profile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 64
#define SLOW_CHUNK 1024

typedef struct {
    int fd;
    kv_job *job;
    size_t received;
    size_t nreplies;        /* status requests answered */
    long long next_read_ms;
    kv_emu_scanner scan;
    unsigned char out[256];
    size_t nout;
    char peer[64];
} conn_t;

struct kv_vprinter {
    int lfd;
    kv_jobstore *js;
    kv_emu_state state;
    long drop_after;
    int delay_ms;
    char profile[64];
    int png;
    char control[PATH_MAX];
    struct stat control_sb;
    int control_seen;
    FILE *log;
    char uri[128];
    unsigned long jobs;
    conn_t conns[MAX_CONN];
    int nconns;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(kv_vprinter *vp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(kv_vprinter *vp, const char *fmt, ...)
{
    if (!vp->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("vprinter: ", vp->log);
    vfprintf(vp->log, fmt, ap);
    fputc('\n', vp->log);
    fflush(vp->log);
    va_end(ap);
}

/* Split "HOST:PORT" / "[v6]:PORT". */
static int split_listen(const char *s, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    if (!s || !*s)
        return -1;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        if ((size_t)(rb - s - 1) >= hl)
            return -1;
        memcpy(host, s + 1, (size_t)(rb - s - 1));
        host[rb - s - 1] = '\0';
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= hl)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    if (strlen(colon + 1) == 0 || strlen(colon + 1) >= pl ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atol(colon + 1) > 65535)
        return -1;
    strcpy(port, colon + 1);
    return 0;
}

int kv_vprinter_create(kv_vprinter **out, const kv_vprinter_options *opt,
                       char *err, size_t errlen)
{
    char host[256], port[8];
    if (split_listen(opt->listen, host, sizeof host, port, sizeof port)) {
        snprintf(err, errlen, "listen address '%s': expected HOST:PORT, e.g. 127.0.0.1:9100 "
                 "or [::1]:9100 (port 0 picks a free one)", opt->listen ? opt->listen : "");
        return KV_T_E_URI;
    }
    kv_vprinter *vp = calloc(1, sizeof *vp);
    if (!vp) {
        snprintf(err, errlen, "out of memory");
        return KV_T_E_NOMEM;
    }
    vp->lfd = -1;
    vp->state = opt->state;
    vp->drop_after = opt->drop_after_bytes;
    vp->delay_ms = opt->delay_ms > 0 ? opt->delay_ms : 0;
    vp->log = opt->log;
    snprintf(vp->profile, sizeof vp->profile, "%s", opt->profile ? opt->profile : "");
    vp->png = opt->png;
    if (vp->profile[0] && !kv_profile_find(vp->profile)) {
        snprintf(err, errlen, "unknown profile '%s' (see kvitt profiles)", vp->profile);
        free(vp);
        return KV_T_E_URI;
    }
    int st = kv_jobstore_open(&vp->js, opt->out_dir ? opt->out_dir : ".", err, errlen);
    if (st) {
        free(vp);
        return st;
    }
    if (opt->control_path)
        snprintf(vp->control, sizeof vp->control, "%s", opt->control_path);
    else
        snprintf(vp->control, sizeof vp->control, "%s/state", kv_jobstore_dir(vp->js));

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "listen address '%s': %s", opt->listen, gai_strerror(gai));
        kv_vprinter_destroy(vp);
        return KV_T_E_URI;
    }
    int e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (vp->delay_ms) {
            int small = 4096; /* a slow printer's small buffer pushes back */
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) {
            vp->lfd = fd;
            break;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (vp->lfd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", opt->listen, strerror(e));
        kv_vprinter_destroy(vp);
        return e == EADDRINUSE ? KV_T_E_BUSY : e == EACCES ? KV_T_E_ACCESS : KV_T_E_IO;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "";
    unsigned p = 0;
    getsockname(vp->lfd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
        p = ntohs(s6->sin6_port);
        snprintf(vp->uri, sizeof vp->uri, "tcp://[%s]:%u", addr, p);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
        p = ntohs(s4->sin_port);
        snprintf(vp->uri, sizeof vp->uri, "tcp://%s:%u", addr, p);
    }
    /* Remember the control file as it is now: only later changes count,
     * so a stale file from an earlier run does not override --state. */
    if (stat(vp->control, &vp->control_sb) == 0)
        vp->control_seen = 1;
    *out = vp;
    return KV_T_OK;
}

const char *kv_vprinter_uri(const kv_vprinter *vp)
{
    return vp->uri;
}

kv_emu_state kv_vprinter_state(const kv_vprinter *vp)
{
    return vp->state;
}

void kv_vprinter_set_state(kv_vprinter *vp, kv_emu_state s)
{
    if ((unsigned)s >= KV_EMU_COUNT)
        return;
    if (s != vp->state)
        logf_(vp, "state %s -> %s", kv_emu_state_name(vp->state), kv_emu_state_name(s));
    vp->state = s;
}

void kv_vprinter_cycle_state(kv_vprinter *vp)
{
    kv_vprinter_set_state(vp, (kv_emu_state)((vp->state + 1) % KV_EMU_COUNT));
}

unsigned long kv_vprinter_jobs(const kv_vprinter *vp)
{
    return vp->jobs;
}

static void check_control(kv_vprinter *vp)
{
    struct stat sb;
    if (stat(vp->control, &sb) < 0)
        return;
    if (vp->control_seen && sb.st_ino == vp->control_sb.st_ino &&
        sb.st_size == vp->control_sb.st_size &&
        sb.st_mtim.tv_sec == vp->control_sb.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == vp->control_sb.st_mtim.tv_nsec)
        return;
    vp->control_sb = sb;
    vp->control_seen = 1;
    char buf[64];
    FILE *f = fopen(vp->control, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    kv_emu_state s;
    if (kv_emu_state_parse(buf, &s) == 0)
        kv_vprinter_set_state(vp, s);
    else
        logf_(vp, "control file %s: '%s' is not a state (ok, paper-out, paper-near-end, "
              "cover-open, offline, error); ignored", vp->control, buf);
}

static void finish(kv_vprinter *vp, int i, const char *why)
{
    conn_t *c = &vp->conns[i];
    if (c->job && c->received == 3 * c->nreplies) {
        /* Only 3-byte status requests came (kvitt checking the printer
         * and then refusing to print): that is not a print job. */
        logf_(vp, "connection from %s: %zu status request(s), no job (%s)", c->peer,
              c->nreplies, why);
        kv_job_abort(c->job);
        c->job = NULL;
    }
    if (c->job) {
        unsigned num = 0;
        size_t size = kv_job_size(c->job);
        char path[PATH_MAX + 32], err[256];
        if (kv_job_commit(c->job, &num, path, sizeof path) == KV_T_OK) {
            vp->jobs++;
            logf_(vp, "job %04u: %zu bytes from %s%s%s (%s)", num, size, c->peer,
                  vp->profile[0] ? ", profile " : "", vp->profile, why);
            if (vp->png && kv_job_render_png(path, vp->profile, NULL, 0, err, sizeof err))
                logf_(vp, "job %04u: no PNG: %s", num, err);
        } else {
            logf_(vp, "job from %s: %zu bytes could NOT be filed in %s", c->peer, size,
                  kv_jobstore_dir(vp->js));
        }
        c->job = NULL;
    }
    close(c->fd);
    vp->conns[i] = vp->conns[--vp->nconns];
}

static void accept_all(kv_vprinter *vp)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(vp->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (vp->nconns >= MAX_CONN) {
            close(fd); /* like a busy printer: refuse */
            continue;
        }
        conn_t *c = &vp->conns[vp->nconns++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        char a[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
        snprintf(c->peer, sizeof c->peer, "%s", a);
    }
}

/* Read what is there; returns 0 to keep the connection, 1 when it ended. */
static int serve_read(kv_vprinter *vp, conn_t *c, const char **why)
{
    unsigned char buf[65536];
    size_t want = vp->delay_ms ? SLOW_CHUNK : sizeof buf;
    if (vp->drop_after >= 0) {
        size_t left = (size_t)vp->drop_after - c->received;
        if (left < want)
            want = left;
    }
    ssize_t n = read(c->fd, buf, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        *why = n == 0 ? "connection closed" : "connection reset";
        return 1;
    }
    c->received += (size_t)n;
    size_t nr = kv_emu_scan(&c->scan, vp->state, buf, (size_t)n, c->out + c->nout,
                            sizeof c->out - c->nout);
    c->nout += nr;
    c->nreplies += nr;
    if (!c->job && kv_job_begin(vp->js, &c->job) != KV_T_OK) {
        logf_(vp, "cannot create a job file in %s: %s", kv_jobstore_dir(vp->js),
              strerror(errno));
        *why = "job store failed";
        return 1;
    }
    if (kv_job_append(c->job, buf, (size_t)n) != KV_T_OK) {
        logf_(vp, "writing job failed: %s", strerror(errno));
        *why = "job store failed";
        return 1;
    }
    if (c->nout) {
        ssize_t w = send(c->fd, c->out, c->nout, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            memmove(c->out, c->out + w, c->nout - (size_t)w);
            c->nout -= (size_t)w;
        }
    }
    if (vp->drop_after >= 0 && c->received >= (size_t)vp->drop_after) {
        *why = "dropped on purpose (--drop-after-bytes)";
        /* Reset rather than close politely: unread data makes it a RST. */
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return 1;
    }
    if (vp->delay_ms)
        c->next_read_ms = now_ms() + vp->delay_ms;
    return 0;
}

int kv_vprinter_step(kv_vprinter *vp, int timeout_ms)
{
    struct pollfd pfd[MAX_CONN + 1];
    int idx[MAX_CONN + 1];
    int np = 0;
    long long now = now_ms();
    int wait = timeout_ms;

    check_control(vp);
    pfd[np].fd = vp->lfd;
    pfd[np].events = vp->nconns < MAX_CONN ? POLLIN : 0;
    idx[np++] = -1;
    for (int i = 0; i < vp->nconns; i++) {
        conn_t *c = &vp->conns[i];
        short ev = 0;
        if (c->next_read_ms <= now)
            ev |= POLLIN;
        else if (c->next_read_ms - now < wait)
            wait = (int)(c->next_read_ms - now);
        if (c->nout)
            ev |= POLLOUT;
        pfd[np].fd = c->fd;
        pfd[np].events = ev;
        idx[np++] = i;
    }
    if (wait > 200)
        wait = 200; /* re-read the control file often enough */
    int pr = poll(pfd, (nfds_t)np, wait < 0 ? 0 : wait);
    if (pr < 0)
        return errno == EINTR ? KV_T_OK : KV_T_E_IO;
    /* Walk backwards: finish() moves the last connection into slot i. */
    for (int k = np - 1; k >= 1; k--) {
        int i = idx[k];
        conn_t *c = &vp->conns[i];
        const char *why = NULL;
        int ended = 0;
        if (pfd[k].revents & POLLOUT && c->nout) {
            ssize_t w = send(c->fd, c->out, c->nout, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                memmove(c->out, c->out + w, c->nout - (size_t)w);
                c->nout -= (size_t)w;
            }
        }
        if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
            ended = serve_read(vp, c, &why);
        if (ended)
            finish(vp, i, why);
    }
    if (pfd[0].revents & POLLIN)
        accept_all(vp);
    return KV_T_OK;
}

void kv_vprinter_destroy(kv_vprinter *vp)
{
    if (!vp)
        return;
    while (vp->nconns > 0)
        finish(vp, vp->nconns - 1, "emulator shut down");
    if (vp->lfd >= 0)
        close(vp->lfd);
    kv_jobstore_close(vp->js);
    free(vp);
}
