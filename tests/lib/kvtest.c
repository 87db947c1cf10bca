/* kvtest.c - see kvtest.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "tests/lib/kvtest.h"

extern char **environ;

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

const char *kvt_bin(void) { return env_or("KVITT_BIN", "build/kvitt"); }
const char *kvt_srcdir(void) { return env_or("KVITT_SRCDIR", "."); }

const char *kvt_shared(void)
{
    static char buf[4096];
    const char *v = getenv("KVITT_SHARED");
    struct stat st;
    if (v && *v)
        return stat(v, &st) == 0 ? v : NULL;
    snprintf(buf, sizeof buf, "%s/../shared", kvt_srcdir());
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

const char *kvt_tmpdir(void)
{
    static char buf[256];
    const char *v = getenv("KVITT_TMP");
    if (v && *v)
        return v;
    if (!buf[0]) {
        snprintf(buf, sizeof buf, "/tmp/kvitt-test.XXXXXX");
        if (!mkdtemp(buf))
            return "/tmp";
    }
    return buf;
}

char *kvt_path(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    assert_non_null(s);
    return s;
}

int kvt_read_file(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return -1;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            unsigned char *nb = realloc(b, cap);
            if (!nb) { free(b); fclose(f); return -1; }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int kvt_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(buf, 1, len, f);
    if (fclose(f) != 0 || w != len)
        return -1;
    return 0;
}

static void hex_window(const char *tag, const unsigned char *b, size_t len, size_t at)
{
    size_t start = at >= 16 ? (at - 16) & ~(size_t)15 : 0;
    size_t end = start + 48 < len ? start + 48 : len;
    printf("%s (%zu bytes):\n", tag, len);
    for (size_t row = start; row < end; row += 16) {
        printf("  %06zx ", row);
        for (size_t i = row; i < row + 16; i++) {
            if (i < end)
                printf(i == at ? "[%02x]" : " %02x ", b[i]);
            else
                printf("    ");
        }
        printf(" |");
        for (size_t i = row; i < row + 16 && i < end; i++)
            putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
        printf("|\n");
    }
}

void kvt_assert_bytes_(const void *got, size_t gotlen, const void *exp,
                       size_t explen, const char *file, int line)
{
    const unsigned char *g = got, *e = exp;
    size_t n = gotlen < explen ? gotlen : explen, i;
    for (i = 0; i < n; i++)
        if (g[i] != e[i])
            break;
    if (i == n && gotlen == explen)
        return;
    printf("%s:%d: byte streams differ at offset %zu (0x%zx): got %zu bytes, expected %zu\n",
           file, line, i, i, gotlen, explen);
    hex_window("expected", e, explen, i);
    hex_window("got", g, gotlen, i);
    _fail(file, line);
}

static char **build_env(const char *const extra[])
{
    size_t n = 0, m = 0;
    while (environ[n]) n++;
    if (extra) while (extra[m]) m++;
    char **env = calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < m; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t l = eq ? (size_t)(eq - extra[j]) : strlen(extra[j]);
            if (strncmp(environ[i], extra[j], l) == 0 && environ[i][l] == '=')
                dup = 1;
        }
        if (!dup)
            env[k++] = environ[i];
    }
    env[k] = NULL;
    return env;
}

static const char *resolve(const char *argv0)
{
    return strcmp(argv0, "kvitt") == 0 ? kvt_bin() : argv0;
}

static int append(char **buf, size_t *len, int fd)
{
    char tmp[8192];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r <= 0)
        return (r < 0 && errno == EINTR) ? 1 : 0;
    char *nb = realloc(*buf, *len + (size_t)r + 1);
    if (!nb)
        return 0;
    memcpy(nb + *len, tmp, (size_t)r);
    *len += (size_t)r;
    nb[*len] = 0;
    *buf = nb;
    return 1;
}

int kvt_run(kvt_result *r, const char *stdin_data, const char *const envp_extra[],
            int timeout_s, const char *const argv[])
{
    int in[2], out[2], err[2];
    memset(r, 0, sizeof *r);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (pipe(in) || pipe(out) || pipe(err))
        return -1;
    char **env = build_env(envp_extra);
    pid_t pid = fork();
    if (pid < 0) { free(env); return -1; }
    if (pid == 0) {
        dup2(in[0], 0); dup2(out[1], 1); dup2(err[1], 2);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        close(err[0]); close(err[1]);
        execve(resolve(argv[0]), (char *const *)argv, env);
        fprintf(stderr, "exec %s: %s\n", resolve(argv[0]), strerror(errno));
        _exit(127);
    }
    free(env);
    close(in[0]); close(out[1]); close(err[1]);
    signal(SIGPIPE, SIG_IGN);
    if (stdin_data) {
        size_t len = strlen(stdin_data), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], stdin_data + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    close(in[1]);
    int open_out = 1, open_err = 1, timed_out = 0;
    time_t deadline = time(NULL) + (timeout_s > 0 ? timeout_s : 120);
    while (open_out || open_err) {
        struct pollfd pf[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };
        int rc = poll(pf, 2, 200);
        if (rc < 0 && errno != EINTR) break;
        if (open_out && (pf[0].revents & (POLLIN | POLLHUP)))
            open_out = append(&r->out, &r->outlen, out[0]);
        if (open_err && (pf[1].revents & (POLLIN | POLLHUP)))
            open_err = append(&r->err, &r->errlen, err[0]);
        if (time(NULL) > deadline) { timed_out = 1; kill(pid, SIGKILL); break; }
    }
    close(out[0]); close(err[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (timed_out) {
        printf("kvt_run: %s timed out after %d s\n", argv[0], timeout_s);
        return -1;
    }
    return 0;
}

void kvt_result_free(kvt_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

struct kvt_proc {
    pid_t pid;
    int outfd;
    char buf[8192];
    size_t len;
};

kvt_proc *kvt_spawn(const char *const argv[], const char *const envp_extra[],
                    const char *logpath)
{
    int out[2];
    if (pipe(out))
        return NULL;
    char **env = build_env(envp_extra);
    pid_t pid = fork();
    if (pid < 0) { free(env); return NULL; }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out[1], 1);
        if (logpath) {
            int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) dup2(fd, 2);
        }
        close(out[0]); close(out[1]);
        execve(resolve(argv[0]), (char *const *)argv, env);
        fprintf(stderr, "exec %s: %s\n", resolve(argv[0]), strerror(errno));
        _exit(127);
    }
    free(env);
    close(out[1]);
    kvt_proc *p = calloc(1, sizeof *p);
    p->pid = pid;
    p->outfd = out[0];
    return p;
}

char *kvt_proc_readline(kvt_proc *p, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl) {
            size_t l = (size_t)(nl - p->buf);
            char *line = strndup(p->buf, l);
            memmove(p->buf, nl + 1, p->len - l - 1);
            p->len -= l + 1;
            return line;
        }
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms || p->len == sizeof p->buf)
            return NULL;
        struct pollfd pf = { p->outfd, POLLIN, 0 };
        if (poll(&pf, 1, (int)(timeout_ms - el)) <= 0)
            continue;
        ssize_t r = read(p->outfd, p->buf + p->len, sizeof p->buf - p->len);
        if (r <= 0)
            return NULL;
        p->len += (size_t)r;
    }
}

pid_t kvt_proc_pid(const kvt_proc *p) { return p->pid; }

int kvt_proc_stop(kvt_proc *p, int sig)
{
    return kvt_proc_stop_usage(p, sig, NULL);
}

int kvt_proc_stop_usage(kvt_proc *p, int sig, struct rusage *ru)
{
    int st = 0;
    struct rusage dummy;
    if (!ru)
        ru = &dummy;
    if (!p)
        return 0;
    if (sig)
        kill(p->pid, sig);
    for (int i = 0; i < 1000; i++) {
        pid_t r = wait4(p->pid, &st, WNOHANG, ru);
        if (r == p->pid)
            goto done;
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    wait4(p->pid, &st, 0, ru);
done:
    close(p->outfd);
    free(p);
    return st;
}

static int any_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { 0 };
    socklen_t l = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &l)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Suites run side by side (tests/run.sh): a port handed out here is marked
 * in KVITT_PORTS_DIR so that no other suite of the run is handed it too
 * before its user has bound it. */
int kvt_free_port(void)
{
    const char *dir = getenv("KVITT_PORTS_DIR");
    for (int tries = 0; tries < 64; tries++) {
        int port = any_port();
        if (port < 0 || !dir || !*dir)
            return port;
        char mark[512];
        snprintf(mark, sizeof mark, "%s/%d", dir, port);
        int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return port;
        }
        if (errno != EEXIST)
            return port;
    }
    return -1;
}

void kvt_print_dump_diff(const char *label, const void *got, size_t gotlen,
                         const void *exp, size_t explen)
{
    char *g = kvt_path("%s/%s.got.bin", kvt_tmpdir(), label);
    char *e = kvt_path("%s/%s.expected.bin", kvt_tmpdir(), label);
    char *gd = kvt_path("%s.dump", g), *ed = kvt_path("%s.dump", e);
    if (kvt_write_file(g, got, gotlen) || kvt_write_file(e, exp, explen)) {
        printf("kvt_print_dump_diff: cannot write %s\n", g);
        goto out;
    }
    const char *files[2][2] = { { e, ed }, { g, gd } };
    for (int i = 0; i < 2; i++) {
        kvt_result r;
        const char *argv[] = { "kvitt", "dump", files[i][0], NULL };
        if (kvt_run(&r, NULL, NULL, 30, argv) != 0) {
            printf("kvt_print_dump_diff: cannot run kvitt dump\n");
            goto out;
        }
        kvt_write_file(files[i][1], r.out, r.outlen);
        kvt_result_free(&r);
    }
    kvt_result r;
    const char *argv[] = { "/usr/bin/diff", "-u", ed, gd, NULL };
    if (kvt_run(&r, NULL, NULL, 30, argv) == 0) {
        printf("---- kvitt dump diff (expected -> got) for %s ----\n%s----\n", label, r.out);
        kvt_result_free(&r);
    }
out:
    free(g);
    free(e);
    free(gd);
    free(ed);
}
