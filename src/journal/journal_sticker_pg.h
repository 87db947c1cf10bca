/*
 * journal_sticker_pg.h - the sticker tables of a journal on PostgreSQL
 * (internal): journal_sticker.c hands every call on a PostgreSQL handle to
 * these, with the contracts of journal_sticker.h.  Several instances of a
 * chain share the tables; a check-in and a waiting amount meet in one
 * transaction that holds the sticker's row (SELECT ... FOR UPDATE), and
 * unique indexes keep one held check-in per sticker and one waiting
 * amount per till.
 */
#ifndef KV_JOURNAL_STICKER_PG_H
#define KV_JOURNAL_STICKER_PG_H

#include "src/journal/journal_pg.h"
#include "src/journal/journal_sticker.h"

kv_journal_status kv_jspg_sticker_put(kv_jpg *p, const kv_sticker_row *r);
kv_journal_status kv_jspg_sticker_printed(kv_jpg *p, const char *id);
kv_journal_status kv_jspg_sticker_delete(kv_jpg *p, const char *id);
kv_journal_status kv_jspg_sticker_get(kv_jpg *p, kv_sticker_row *out, const char *id, const char *msn,
                                      const char *till);
kv_journal_status kv_jspg_sticker_list(kv_jpg *p, kv_sticker_row **out, size_t *n, const char *msn);
kv_journal_status kv_jspg_checkin_pair(kv_jpg *p, const kv_checkin_row *r, int64_t now_ms,
                                       kv_wait_row *paired);
kv_journal_status kv_jspg_wait_pair(kv_jpg *p, kv_wait_row *w, const char *msn, int64_t now_ms);
kv_journal_status kv_jspg_wait_token(kv_jpg *p, const char *reference, char *token, size_t len,
                                     int64_t *until_ms);
kv_journal_status kv_jspg_wait_move(kv_jpg *p, const char *reference, const char *from, const char *to);
kv_journal_status kv_jspg_wait_get(kv_jpg *p, kv_wait_row *out, const char *reference);
kv_journal_status kv_jspg_wait_list(kv_jpg *p, kv_wait_row **out, size_t *n);

#endif
