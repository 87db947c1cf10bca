/* main.c - the kvitt program: global options and subcommand dispatch. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "src/cli/cli.h"

#ifndef KV_VERSION
#define KV_VERSION "0.1.0"
#endif

struct cmd {
    const char *name;
    int (*fn)(int, char **, const kv_cli *);
    const char *summary;
};

static const struct cmd commands[] = {
#define KV_CMD(fn, name, summary) { name, kv_cmd_##fn, summary },
#include "src/cli/commands.def"
#undef KV_CMD
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt [--config FILE] [-v] [-q] [--trace FILE] <command> [<args>]\n\n"
               "Vipps MobilePay at the till, with the receipt printer as the customer's screen.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  -v               log each payment call (-vv: with headers and bodies), redacted\n"
               "  --trace FILE     append a redacted wire trace of the payment calls (mode 0600)\n"
               "\n'kvitt <command> --help' describes one command.\n");
}

int kv_bad_option(const char *cmd, int argc, char **argv)
{
    /* getopt has just returned '?': argv[optind - 1] is the element it
     * stopped at (a short option in a cluster may leave optind on it). */
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    char msg[512];
    if (strncmp(arg, "--", 2) == 0) {
        int n = (int)strcspn(arg, "=");
        if (optopt == 0)
            snprintf(msg, sizeof msg, "unknown option '%.*s'", n, arg);
        else
            snprintf(msg, sizeof msg, "option '%.*s' %s", n, arg, arg[n] ? "takes no value" : "needs a value");
    } else if (optopt > 0 && optopt < 127 && optopt != '?') {
        snprintf(msg, sizeof msg, "option '-%c' is unknown or needs a value", optopt);
    } else {
        snprintf(msg, sizeof msg, "bad option '%s'", arg);
    }
    kv_err(cmd, "%s (see 'kvitt %s --help')", msg, cmd);
    return KV_EXIT_USAGE;
}

/* Take --config FILE / --config=FILE out of a subcommand's arguments (up to
 * a "--"), so the global option works after the command name as well. The
 * last one given wins.  Returns 0, or -1 when --config lacks its FILE. */
static int take_config(int *argc, char **argv, kv_cli *cli)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= *argc || !argv[i + 1][0])
                return -1;
            cli->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            if (!a[9])
                return -1; /* an empty name is a mistake, not "the default" */
            cli->config_path = a + 9;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/* Print "kvitt <cmd>: <message>" with every control byte of the message
 * (an argument echoed back, a value from a file) shown as '?': an error
 * line never moves the terminal's cursor or rings its bell. */
static void print_clean(const char *cmd, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    for (unsigned char *p = (unsigned char *)buf; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "kvitt %s: %s\n", cmd, buf);
}

int kv_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

int kv_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_clean(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see 'kvitt %s --help')\n", cmd);
    return KV_EXIT_USAGE;
}

void kv_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_clean(cmd, fmt, ap);
    va_end(ap);
}

FILE *kv_open_out(const char *cmd, const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        kv_err(cmd, "cannot write %s: %s", path, strerror(errno));
    return f;
}

int kv_close_out(const char *cmd, FILE *f, const char *path)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad) {
        kv_err(cmd, "writing %s failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int kv_write_out(const char *cmd, const char *path, const void *data, size_t len)
{
    FILE *f = kv_open_out(cmd, path);
    if (!f)
        return KV_EXIT_USAGE;
    fwrite(data, 1, len, f);
    return kv_close_out(cmd, f, path) ? KV_EXIT_USAGE : KV_EXIT_OK;
}

void kv_on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int kv_cmd_version(int argc, char **argv, const kv_cli *cli)
{
    (void)argc; (void)argv; (void)cli;
    printf("kvitt %s\n", KV_VERSION);
    return KV_EXIT_OK;
}

/*
 * kvitt holds client secrets, access tokens and phone numbers in memory.
 * A core dump would write them to disk, so the process never dumps core and
 * is not dumpable (no ptrace by other same-user processes, /proc/PID/mem
 * closed).  Set KVITT_ALLOW_CORE=1 to debug a crash on a test system.
 */
static void no_core_dumps(void)
{
    const char *allow = getenv("KVITT_ALLOW_CORE");
    if (allow && strcmp(allow, "1") == 0)
        return;
    struct rlimit rl = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &rl);
#ifndef __SANITIZE_ADDRESS__
    /* LeakSanitizer ptraces its own process at exit, which a non-dumpable
     * process refuses to non-root users; the sanitizer build keeps only
     * the zero core limit. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

int main(int argc, char **argv)
{
    kv_cli cli = { 0 };
    no_core_dumps();
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "trace", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { 0, 0, 0, 0 }
    };
    int c;
    cli.config_path = getenv("KVITT_CONFIG");
    opterr = 0; /* wrong options are reported in one line (kv_bad_option) */
    /* '+' stops at the first non-option: the subcommand name. */
    while ((c = getopt_long(argc, argv, "+c:vqhVt:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (!*optarg) {
                fprintf(stderr, "kvitt: option '--config' needs a FILE, not an empty name\n");
                return KV_EXIT_USAGE;
            }
            cli.config_path = optarg;
            break;
        case 'v': cli.verbose++; break;
        case 'q': cli.quiet = 1; break;
        case 't': cli.trace_path = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        case 'V': return kv_cmd_version(0, NULL, &cli);
        default:
            fprintf(stderr, "kvitt: bad option '%s' (see 'kvitt help')\n", argv[optind - 1]);
            return KV_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return KV_EXIT_USAGE;
    }
    const char *name = argv[optind];
    char help_opt[] = "--help", *help_argv[3] = { NULL, help_opt, NULL };
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            usage(stdout);
            return KV_EXIT_OK;
        }
        /* kvitt help CMD is kvitt CMD --help (and man kvitt-CMD). */
        name = help_argv[0] = argv[optind + 1];
        argv = help_argv;
        argc = 2;
        optind = 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            if (take_config(&sub_argc, sub_argv, &cli) != 0) {
                fprintf(stderr, "kvitt %s: option '--config' needs a FILE (see 'kvitt %s --help')\n",
                        name, name);
                return KV_EXIT_USAGE;
            }
            optind = 1; /* let the subcommand run getopt afresh */
            return commands[i].fn(sub_argc, sub_argv, &cli);
        }
    }
    fprintf(stderr, "kvitt: '%s' is not a kvitt command (see 'kvitt help')\n", name);
    return KV_EXIT_USAGE;
}
