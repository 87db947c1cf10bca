/* backoffice_int.h - helpers shared by src/vipps/report.c and mgmt.c. Not public. */
#ifndef KV_VIPPS_BACKOFFICE_INT_H
#define KV_VIPPS_BACKOFFICE_INT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Copy the string member key of o (NULL-safe) into dst; "" when absent. */
void kv__bo_str(char *dst, size_t n, const cJSON *o, const char *key);

#endif
