/* readfile.h - read a whole input file for the virtual printer commands
 * (dump, render, verify-qr). */
#ifndef KV_CLI_READFILE_H
#define KV_CLI_READFILE_H

#include <stddef.h>
#include <stdint.h>

/* Read path ("-" = standard input) into a malloc'd buffer (*buf, free()
 * it; never NULL on success, even for an empty file).  Files larger than
 * 256 MiB are refused.  On failure prints "kvitt <cmd>: ..." and returns
 * -1 (outputs untouched). */
int kv_read_input(const char *cmd, const char *path, uint8_t **buf, size_t *len);

#endif
