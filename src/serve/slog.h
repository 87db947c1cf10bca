/*
 * slog.h - journald-friendly structured log lines for the daemon.
 *
 * Each event is ONE line on a file descriptor (stderr by default), starting
 * with a syslog priority prefix that systemd-journald understands:
 *
 *   <6>payment.created till=till-1 store=oslo reference=OSL-1a2b amount=14900
 *
 * Values are sanitised: control characters (CR, LF, ESC...) are replaced by
 * '?', so a hostile request can never forge a second log line.  Callers must
 * never pass secrets, bearer tokens or phone numbers: the logger cannot tell
 * them apart from other text, so the rule is kept at the call sites
 * (the files of src/serve log only ids, references, amounts, states and statuses).
 *
 * Thread-safety: every kv_slog_* call writes its line with a single write(2)
 * on an O_APPEND-like fd, so lines from concurrent threads never interleave.
 * No global state: the logger is a small value struct owned by the caller.
 */
#ifndef KV_SERVE_SLOG_H
#define KV_SERVE_SLOG_H

/* syslog priorities (RFC 5424 numbers, as sd-daemon.h spells them). */
enum {
    KV_LOG_ERR = 3,
    KV_LOG_WARNING = 4,
    KV_LOG_NOTICE = 5,
    KV_LOG_INFO = 6,
    KV_LOG_DEBUG = 7
};

/* A logger. Initialise with KV_SLOG_INIT (stderr, info level). */
typedef struct kv_slog {
    int fd;        /* where lines go; 2 = stderr */
    int max_prio;  /* lines with a priority number above this are dropped */
} kv_slog;

#define KV_SLOG_INIT { 2, KV_LOG_INFO }

/* Write one line "<prio>text\n". fmt is printf-style; the formatted text is
 * truncated at 1000 bytes and sanitised (control characters -> '?').
 * log may be NULL (then nothing is written). */
void kv_slog_write(const kv_slog *log, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
