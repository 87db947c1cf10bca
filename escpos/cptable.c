/* cptable.c - lookups over the generated decode tables (cptables.c). */
#include <ctype.h>
#include <string.h>

#include "escpos/cptables_int.h"
#include "escpos/profile.h"

static const char *const cp_table_names[KV_CP_COUNT] = {
    [KV_CP_PC437] = "PC437", [KV_CP_PC850] = "PC850", [KV_CP_PC858] = "PC858",
    [KV_CP_PC865] = "PC865", [KV_CP_WPC1252] = "WPC1252",
};

size_t kv_cptable_count(void)
{
    return kv__cptables_count;
}

const kv_cptable *kv_cptable_at(size_t i)
{
    return i < kv__cptables_count ? &kv__cptables[i] : NULL;
}

/* Comparable form of a page name: upper case without '-', '_' and spaces;
 * a vendor prefix (PC, CP, WPC, IBM, WINDOWS) before the number is
 * dropped, so "cp866", "PC866" and "866" meet, and so do "windows-1250"
 * and "WPC1250". */
static void norm(char *out, size_t size, const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < size; p++)
        if (*p != '-' && *p != '_' && *p != ' ')
            out[n++] = (char)toupper((unsigned char)*p);
    out[n] = '\0';
    static const char *const prefixes[] = { "WINDOWS", "WPC", "IBM", "PC", "CP" };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(out, prefixes[i], pl) == 0 && isdigit((unsigned char)out[pl])) {
            memmove(out, out + pl, n - pl + 1);
            return;
        }
    }
    if (strcmp(out, "RK1048") == 0)  /* another name of KZ1048 */
        strcpy(out, "KZ1048");
}

const kv_cptable *kv_cptable_find(const char *name)
{
    if (!name)
        return NULL;
    char want[32], have[32];
    norm(want, sizeof want, name);
    for (size_t i = 0; i < kv__cptables_count; i++) {
        norm(have, sizeof have, kv__cptables[i].name);
        if (strcmp(want, have) == 0)
            return &kv__cptables[i];
    }
    return NULL;
}

const char *kv_cptable_name(const kv_cptable *t)
{
    return t ? t->name : "?";
}

const kv_cptable *kv_cptable_epson(int n)
{
    if (n < 0 || n > 255 || kv__cp_epson[n] < 0)
        return NULL;
    return &kv__cptables[kv__cp_epson[n]];
}

const kv_cptable *kv_cptable_star(int n)
{
    if (n < 0 || n > 255 || kv__cp_star[n] < 0)
        return NULL;
    return &kv__cptables[kv__cp_star[n]];
}

const kv_cptable *kv_cptable_of(kv_codepage cp)
{
    if ((unsigned)cp >= KV_CP_COUNT)
        return NULL;
    return kv_cptable_find(cp_table_names[cp]);
}

uint32_t kv_cptable_to_unicode(const kv_cptable *t, uint8_t byte)
{
    if (byte < 0x80)
        return byte;
    if (!t)
        t = &kv__cptables[kv__cp_epson[0]];
    return t->hi[byte - 0x80];
}

const kv_cptable *kv_cptable_select(const kv_profile *p, int esc_t, int star_cp)
{
    if (star_cp >= 0)
        return kv_cptable_star(star_cp);
    kv_codepage cp;
    if (kv_profile_codepage_from_number(&cp, p, esc_t) == 0)
        return kv_cptable_of(cp);
    return kv_cptable_epson(esc_t);
}
