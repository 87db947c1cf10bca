/* kvproxy.c - see kvproxy.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/kvproxy.h"

static int append_conf(kvp_env *e, const char *text)
{
    FILE *f = fopen(e->f.conf, "a");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

int kvp_setup(kvp_env *e, const char *name, const char *const sim_args[], const char *listen,
              const char *match, const char *extra)
{
    memset(e, 0, sizeof *e);
    if (kvf_start(&e->f, name, sim_args))
        return -1;
    snprintf(e->vp_dir, sizeof e->vp_dir, "%s/vp", e->f.dir);
    char log[800];
    snprintf(log, sizeof log, "%s/vprinter.log", e->f.dir);
    const char *argv[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out", e->vp_dir, NULL };
    e->vp = kvt_spawn(argv, NULL, log);
    if (!e->vp)
        return -1;
    char *uri = kvt_proc_readline(e->vp, 30000);
    if (!uri)
        return -1;
    snprintf(e->vp_uri, sizeof e->vp_uri, "%s", uri);
    free(uri);
    char sec[2048];
    snprintf(sec, sizeof sec, "\n[proxy till-1]\nlisten = %s\nprinter = %s\nstore = oslo\nmatch = %s\n"
             "idle_ms = 300\n%s\n", listen ? listen : "tcp://127.0.0.1:0", e->vp_uri, match,
             extra ? extra : "");
    return append_conf(e, sec);
}

int kvp_proxy_start(kvp_env *e)
{
    char log[800];
    snprintf(log, sizeof log, "%s/proxy.log", e->f.dir);
    const char *argv[] = { "kvitt", "--config", e->f.conf, "proxy", "till-1", NULL };
    e->px = kvt_spawn(argv, NULL, log);
    if (!e->px)
        return -1;
    char *addr = kvt_proc_readline(e->px, 60000);
    if (!addr)
        return -1;
    snprintf(e->px_addr, sizeof e->px_addr, "%s", addr);
    free(addr);
    return 0;
}

void kvp_proxy_stop(kvp_env *e, int sig)
{
    if (e->px)
        kvt_proc_stop(e->px, sig);
    e->px = NULL;
}

void kvp_teardown(kvp_env *e)
{
    kvp_proxy_stop(e, SIGTERM);
    if (e->vp)
        kvt_proc_stop(e->vp, SIGTERM);
    e->vp = NULL;
    kvf_stop(&e->f);
}

int kvp_jobs(kvp_env *e)
{
    int n = 0;
    for (;;) {
        char p[800];
        snprintf(p, sizeof p, "%s/%04d.bin", e->vp_dir, n + 1);
        struct stat st;
        if (stat(p, &st) != 0)
            return n;
        n++;
    }
}

int kvp_job(kvp_env *e, int i, unsigned char **buf, size_t *len)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%04d.bin", e->vp_dir, i);
    return kvt_read_file(p, buf, len);
}

int kvp_wait_jobs(kvp_env *e, int n, int timeout_ms)
{
    int got = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        got = kvp_jobs(e);
        if (got >= n)
            return got;
        usleep(50000);
    }
    return got;
}

int kvp_printer_state(kvp_env *e, const char *state)
{
    char p[800];
    snprintf(p, sizeof p, "%s/state", e->vp_dir);
    char line[64];
    snprintf(line, sizeof line, "%s\n", state);
    return kvt_write_file(p, line, strlen(line));
}

int kvp_connect_uri(const char *uri)
{
    const char *colon = strrchr(uri, ':');
    if (strncmp(uri, "tcp://", 6) || !colon)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int kvp_till_connect(kvp_env *e)
{
    return kvp_connect_uri(e->px_addr);
}

int kvp_till_write(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int kvp_till_query(int fd, const unsigned char q[3], int timeout_ms)
{
    if (kvp_till_write(fd, q, 3))
        return -1;
    struct pollfd pf = { fd, POLLIN, 0 };
    if (poll(&pf, 1, timeout_ms) <= 0)
        return -1;
    unsigned char b;
    return read(fd, &b, 1) == 1 ? b : -1;
}

int kvp_has(const unsigned char *hay, size_t n, const void *needle, size_t m)
{
    if (m == 0)
        return 1;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

int kvp_listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&a, &l)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}
