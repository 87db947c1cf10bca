/*
 * kvtest.h - helpers shared by the cmocka suites in tests/.
 *
 * Include after <cmocka.h> (which needs <stdarg.h>, <stddef.h>, <setjmp.h>
 * and <stdint.h> first).  Nothing here is a mock: the helpers run the real
 * kvitt program, real child processes and real files.
 *
 * Environment (set by tests/run.sh, with fallbacks for running a suite by
 * hand from the repository root):
 *   KVITT_BIN     path of the kvitt program under test (default build/kvitt)
 *   KVITT_SRCDIR  repository root (default ".")
 *   KVITT_SHARED  ../shared reference folder; absent on a user's clone
 *   KVITT_TMP     scratch folder for this suite (default: a new mkdtemp dir)
 */
#ifndef KV_TESTS_KVTEST_H
#define KV_TESTS_KVTEST_H

#include <stddef.h>
#include <sys/types.h>

/* Borrowed strings, valid for the life of the process. */
const char *kvt_bin(void);
const char *kvt_srcdir(void);
/* NULL when the reference folder ../shared is absent. */
const char *kvt_shared(void);
const char *kvt_tmpdir(void);

/* printf-style path builder; the result is malloc'd, free() it. */
char *kvt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole file. On success *buf is malloc'd (NUL-terminated for
 * convenience, the NUL is not counted in *len). Returns 0 or -1. */
int kvt_read_file(const char *path, unsigned char **buf, size_t *len);
/* Write (create or truncate) a file with mode 0644. Returns 0 or -1. */
int kvt_write_file(const char *path, const void *buf, size_t len);

/* Compare two byte strings. On the first mismatch (or a length
 * difference) print a hex window of both around it and fail the test. */
void kvt_assert_bytes_(const void *got, size_t gotlen,
                       const void *exp, size_t explen,
                       const char *file, int line);
#define kvt_assert_bytes(got, gotlen, exp, explen) \
    kvt_assert_bytes_((got), (gotlen), (exp), (explen), __FILE__, __LINE__)

/* Skip the current test with a visible "SKIP: reason" line (tests/run.sh
 * collects those lines into the summary). */
#define KVT_SKIP(...) do { \
        printf("SKIP: %s: ", __func__); printf(__VA_ARGS__); printf("\n"); \
        skip(); \
    } while (0)
#define KVT_REQUIRE_SHARED() do { \
        if (!kvt_shared()) KVT_SKIP("../shared is absent (fresh clone)"); \
    } while (0)

/* Result of running a program to completion. */
typedef struct {
    int status;        /* exit code, or 128+signal when killed */
    char *out;         /* captured stdout, NUL-terminated, malloc'd */
    size_t outlen;
    char *err;         /* captured stderr, NUL-terminated, malloc'd */
    size_t errlen;
} kvt_result;

/* Run argv to completion, feeding stdin_data (may be NULL) on its standard
 * input, and capture both outputs.  An argv[0] of "kvitt" runs kvt_bin().
 * envp_extra is a NULL-terminated list of "NAME=value" added to the
 * environment, or NULL.  Returns 0 when the program ran (whatever its exit
 * status), -1 when it could not be started or timeout_s passed (the
 * child is then killed). */
int kvt_run(kvt_result *r, const char *stdin_data, const char *const envp_extra[],
            int timeout_s, const char *const argv[]);
void kvt_result_free(kvt_result *r);

/* A background child process (a simulator, a vprinter, a daemon). Its
 * stdout is a pipe read by kvt_proc_readline(); its stderr goes to
 * logpath (or is inherited when logpath is NULL). */
typedef struct kvt_proc kvt_proc;
kvt_proc *kvt_spawn(const char *const argv[], const char *const envp_extra[],
                    const char *logpath);
/* Next line of the child's stdout without the newline, malloc'd; NULL on
 * EOF or after timeout_ms. */
char *kvt_proc_readline(kvt_proc *p, int timeout_ms);
pid_t kvt_proc_pid(const kvt_proc *p);
/* Send sig (0 = none), wait for the child (at most 10 s, then SIGKILL),
 * free the handle and return its wait status. NULL is a no-op returning 0. */
int kvt_proc_stop(kvt_proc *p, int sig);
/* kvt_proc_stop that also fills *ru (may be NULL) with the child's
 * resource usage over its whole life, all threads included (wait4). */
struct rusage;
int kvt_proc_stop_usage(kvt_proc *p, int sig, struct rusage *ru);

/* A free TCP port on 127.0.0.1 (bind to port 0, read it back, close). */
int kvt_free_port(void);


/* Print the difference between two ESC/POS streams as a `diff -u` of their
 * `kvitt dump` disassemblies (expected first), for a failing golden-bytes
 * test to explain itself.  Writes both streams to files in kvt_tmpdir()
 * named after label.  Prints only; never fails the test itself. */
void kvt_print_dump_diff(const char *label, const void *got, size_t gotlen,
                         const void *exp, size_t explen);

#endif
