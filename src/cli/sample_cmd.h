/*
 * sample_cmd.h - the body shared by the commands that write a fixed sample
 * document as ESC/POS bytes (`kvitt sample-receipt`, `kvitt report sample`).
 */
#ifndef KV_CLI_SAMPLE_CMD_H
#define KV_CLI_SAMPLE_CMD_H

#include "escpos/encoder.h"
#include "escpos/layout.h"

/* Writes the sample document into e (the encoder belongs to the caller). */
typedef kv_escpos_status (*kv_sample_writer)(kv_escpos *e, kv_lang lang, const char *currency);

/* Parse -o FILE|- (required), --profile, --lang, --currency (and
 * --codepage when with_codepage), then write the document of `write` to
 * the output.  cmd names the command in messages; usage is printed for
 * --help.  Returns the exit code. */
int kv_sample_cmd(const char *cmd, const char *usage, int with_codepage, kv_sample_writer write,
                  int argc, char **argv);

#endif
