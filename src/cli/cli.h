/*
 * cli.h - the kvitt program's shared definitions.
 *
 * The program is a thin front end (git style): src/cli/main.c parses the
 * global options and dispatches to one `kv_cmd_<name>()` per subcommand,
 * each in its own src/cli/cmd_<name>.c.  A subcommand parses its arguments,
 * calls library functions, and maps their status to an exit code.  It holds
 * no logic of its own.
 *
 * To add a subcommand: write src/cli/cmd_<name>.c defining
 *   int kv_cmd_<name>(int argc, char **argv, const kv_cli *cli);
 * and add one KV_CMD line to src/cli/commands.def.  No Makefile change.
 */
#ifndef KV_CLI_H
#define KV_CLI_H

#include <stdio.h>

/* Exit codes shared by every subcommand (documented in README.md). */
enum kv_exit {
    KV_EXIT_OK = 0,        /* paid / done */
    KV_EXIT_NOT_PAID = 1,  /* not paid, or a check failed (verify-qr, selftest) */
    KV_EXIT_USAGE = 2,     /* bad input: arguments, amounts, files */
    KV_EXIT_CONFIG = 3,    /* configuration or secrets problem */
    KV_EXIT_PRINTER = 4,   /* printer failure before the QR was shown */
    KV_EXIT_SERVICE = 5,   /* payment service unreachable */
    KV_EXIT_UNKNOWN = 6    /* outcome unknown, journaled: run `kvitt recover` */
};

/* Global options: before the subcommand name; --config also after it.
 * Borrowed, read-only. */
typedef struct kv_cli {
    const char *config_path; /* --config FILE, else $KVITT_CONFIG, else NULL */
    int verbose;             /* -v count */
    int quiet;               /* -q */
    const char *trace_path;  /* --trace FILE: redacted wire trace of the
                                payment calls (file mode 0600), or NULL */
} kv_cli;

/* Print "kvitt <cmd>: <message>" on stderr. Returns KV_EXIT_USAGE so a
 * command can write `return kv_usage_error("slip", "...")`. */
int kv_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* After getopt_long() returned '?' (main.c sets opterr = 0): print one line
 * "kvitt <cmd>: unknown option '--x' (see 'kvitt <cmd> --help')" (or that
 * the option needs a value) and return KV_EXIT_USAGE. */
int kv_bad_option(const char *cmd, int argc, char **argv);

/* 1 when s holds a control byte (below 0x20, or 0x7f): such an argument
 * must not reach paper, the journal, a configuration file or Vipps. */
int kv_has_control(const char *s);

/* Print "kvitt <cmd>: <message>" on stderr. */
void kv_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Open "-" as stdout or a path for binary writing; returns NULL and
 * prints a message on failure. Close with kv_close_out(). */
FILE *kv_open_out(const char *cmd, const char *path);
/* Close what kv_open_out returned (stdout is flushed, not closed). Returns
 * 0, or -1 after printing a message when the data may not have been
 * written completely. */
int kv_close_out(const char *cmd, FILE *f, const char *path);
/* Write len bytes of data to path ("-": stdout) with the two above.
 * Returns KV_EXIT_OK, or KV_EXIT_USAGE after printing a message. */
int kv_write_out(const char *cmd, const char *path, const void *data, size_t len);

/* Run handler on SIGINT and SIGTERM (no SA_RESTART, so blocking calls
 * return early with EINTR): how a command stops its loop cleanly. */
void kv_on_stop_signals(void (*handler)(int));

#define KV_CMD(fn, name, summary) int kv_cmd_##fn(int argc, char **argv, const kv_cli *cli);
#include "src/cli/commands.def"
#undef KV_CMD

#endif
