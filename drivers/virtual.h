/*
 * virtual.h - the virtual printer: a job store on disk and the virtual:DIR
 * transport on top of it.
 *
 * Each job is one file DIR/NNNN.bin (0001.bin, 0002.bin, ...; more digits
 * past 9999).  A job is written to a temporary file in DIR and then
 * hard-linked to the first free number, so numbers are unique and no
 * reader ever sees a half-written job, even with several processes
 * writing to the same DIR at once.
 *
 * virtual:DIR options (query):
 *   fail_after=N   the first N write calls succeed; call N+1 fails with
 *                  KV_T_E_IO ("injected fault")
 *   fail=transient only that call fails (default) | persistent: every
 *                  later call fails too
 *   fail_bytes=N   the failing call still stores its first N bytes (a job
 *                  cut off in the middle); default 0
 *   png=1          after filing each job, render it as DIR/NNNN.png
 *                  (escpos/render.h) for the profile given by
 *   profile=NAME   (default: the default profile).  A rendering failure
 *                  never loses the job: end_job still succeeds and
 *                  kv_transport_errmsg() says what went wrong.
 *   state=NAME     answer status queries like a printer in that state
 *                  (names as in status.h kv_emu_state_name).  A write of
 *                  exactly one 3-byte query (DLE EOT n / GS r 1), as
 *                  kv_printer_status() sends, is answered and neither stored
 *                  nor counted as a write call.  Without state= the
 *                  transport has no read-back: status is "unknown".
 */
#ifndef KV_DRIVERS_VIRTUAL_H
#define KV_DRIVERS_VIRTUAL_H

#include <stddef.h>
#include "drivers/transport.h"

typedef struct kv_jobstore kv_jobstore;
typedef struct kv_job kv_job;

/* Open (creating it and missing parents, mode 0755) the job directory.
 * On success *out is a new handle for kv_jobstore_close().  Returns
 * KV_T_OK, or KV_T_E_ACCESS / KV_T_E_IO with the cause in err. */
int kv_jobstore_open(kv_jobstore **out, const char *dir, char *err, size_t errlen);
/* NULL-safe. Jobs still open must be committed or aborted first. */
void kv_jobstore_close(kv_jobstore *js);
/* The directory; borrowed, valid while js lives. */
const char *kv_jobstore_dir(const kv_jobstore *js);

/* Start a new job (a temporary file in the store's directory).  On
 * success *out is a new job, ended with kv_job_commit() or
 * kv_job_abort(). */
int kv_job_begin(kv_jobstore *js, kv_job **out);
/* Append bytes.  Returns KV_T_OK or KV_T_E_IO (disk full ...). */
int kv_job_append(kv_job *j, const void *buf, size_t len);
/* Bytes appended so far. */
size_t kv_job_size(const kv_job *j);
/* Flush to disk and file the job under the next free number.  Always
 * frees j.  On success writes the number to *number (may be NULL) and the
 * path to path (pathlen bytes, may be NULL/0).  Returns KV_T_OK or
 * KV_T_E_IO (the temporary file is removed). */
int kv_job_commit(kv_job *j, unsigned *number, char *path, size_t pathlen);
/* Discard the job; NULL-safe. */
void kv_job_abort(kv_job *j);

/* Path of the last job the virtual transport t filed ("DIR/0007.bin"),
 * so a caller can render a PNG beside it; NULL when t is not a virtual
 * transport or has filed no job yet.  Borrowed: valid until the next
 * end_job/close on t. */
const char *kv_transport_virtual_last_job(const kv_transport *t);

/* Render the job file job_path (an ESC/POS stream) as the paper the
 * profile would print (profile_name NULL or "" = the default profile) and
 * write it beside it: "DIR/0007.bin" -> "DIR/0007.png".  On success the
 * PNG path is written to png_path (pathlen bytes, may be NULL/0).
 * Returns KV_T_OK, KV_T_E_URI (unknown profile), KV_T_E_IO (unreadable
 * job, render or write failure) or KV_T_E_NOMEM, with the cause in err. */
int kv_job_render_png(const char *job_path, const char *profile_name,
                      char *png_path, size_t pathlen, char *err, size_t errlen);

#endif
