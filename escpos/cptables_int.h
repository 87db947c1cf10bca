/* cptables_int.h - internal: the generated code page tables (cptables.c)
 * behind the kv_cptable_* functions of codepage.h. */
#ifndef KV_ESCPOS_CPTABLES_INT_H
#define KV_ESCPOS_CPTABLES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/codepage.h"

struct kv_cptable {
    const char *name;
    uint16_t hi[128];   /* bytes 0x80..0xFF; 0xFFFD = undefined */
};

extern const kv_cptable kv__cptables[];
extern const size_t kv__cptables_count;
/* ESC t n (Epson) and ESC GS t n (Star) -> index into kv__cptables, -1 */
extern const signed char kv__cp_epson[256];
extern const signed char kv__cp_star[256];

#endif
