/*
 * report_int.h - internals shared by the src/report sources.  Not public.
 */
#ifndef KV_REPORT_INT_H
#define KV_REPORT_INT_H

#include <cjson/cJSON.h>

#include "src/report/report.h"

struct kv_report {
    char date[11];
    char store[64];             /* filter, "" = all */
    char till[64];
    kv_report_group *g;
    size_t n, cap;
    int nomem;
};

/* Find or add the group (store, till). NULL when out of memory. */
kv_report_group *kv__report_group(kv_report *r, const char *store, const char *till, const char *currency);

/* "149.00" / "149" / "-5.50" into minor units; 0 or -1. */
int kv__report_parse_money(int64_t *out, const char *s);
/* Minor units as "149.00" / "-5.50" into buf (32 bytes). */
void kv__report_money(char buf[32], int64_t minor);

/* A group as a JSON object (cJSON_Delete) / its text (free()). */
cJSON *kv__report_group_json(const kv_report_group *g, const char *date);
char *kv__report_group_json_text(const kv_report_group *g);
/* Parse what kv__report_group_json_text wrote into *g (its open list is
 * malloc'd).  0 or -1. */
int kv__report_group_parse(kv_report_group *g, const char *json);

#endif
