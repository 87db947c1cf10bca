/* slog.c - one sanitised line per event, with a <N> priority prefix. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/serve/slog.h"

void kv_slog_write(const kv_slog *log, int prio, const char *fmt, ...)
{
    if (!log || log->fd < 0 || prio > log->max_prio)
        return;
    char line[1100];
    int n = snprintf(line, sizeof line, "<%d>", prio);
    size_t head = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + head, 1000, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = head + ((size_t)m < 999 ? (size_t)m : 999);
    /* Control characters from request data must not split or colour the
     * line: the journal would show a forged event. */
    for (size_t i = head; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x20 || c == 0x7f)
            line[i] = '?';
    }
    line[len++] = '\n';
    /* One write(2) per line keeps concurrent lines whole. */
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(log->fd, line + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += (size_t)w;
    }
}
