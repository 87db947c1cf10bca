/*
 * usb_profiles.c - the table behind kv_usb_suggest_profile().
 *
 * Facts (USB IDs, model families, paper widths) from the ESC/POS reference
 * notes, sections 1.12, 2.2 and 3.3.  Quirks are data: add a row, not code.
 */
#include "drivers/usb_profiles.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* Product-name / 1284 MDL fragments, tried first, in order (so the more
 * specific "TM-T88III" comes before "TM-T88"). Case-insensitive. */
static const struct {
    const char *fragment;
    const char *profile;
} name_rules[] = {
    { "TM-T88III", "epson-tm-t88iii" },
    { "TM-T88",    "epson-tm-t88" },
    { "TM-T70",    "epson-tm-t88" },     /* same 180 dpi 80 mm family */
    { "TM-T20",    "epson-tm-t20" },
    { "TM-T82",    "epson-tm-t20" },
    { "TSP6",      "star-tsp650" },      /* TSP600 / TSP650 / TSP650II */
    { "CT-S310",   "citizen-ct-s310" },
    { "SRP-350",   "bixolon-srp350" },
    { "XP-N160",   "xprinter-xp-n160" },
    { "POS-5890",  "pos-5890" },
    { "ZJ-5890",   "pos-5890" },
    { "POS58",     "pos-5890" },         /* 0416:5011 reports "POS58 Printer USB" */
    { "POS-58",    "pos-5890" },
    { "Printer-80", "xprinter-xp-n160" },/* Xprinter product string */
    { "POS80",     "generic-80" },
    { "POS-80",    "generic-80" },
};

/* VID:PID rows.  pid_any = 1 matches every PID of a vendor that makes
 * receipt printers only (used after exact rows). */
static const struct {
    uint16_t vid, pid;
    int pid_any;
    const char *profile;
} id_rules[] = {
    { 0x04b8, 0x0202, 0, "epson-tm-t88" },    /* UB-U05 interface: TM-T88IV/V/VI, TM-T70 */
    { 0x04b8, 0x0e03, 0, "epson-tm-t20" },    /* TM-T20 */
    { 0x04b8, 0x0e15, 0, "epson-tm-t20" },    /* TM-T20II */
    { 0x04b8, 0x0e28, 0, "epson-tm-t20" },    /* TM-T20III */
    { 0x0519, 0x0001, 0, "star-tsp650" },     /* TSP650II / 700II / 800II, Star Line */
    { 0x0519, 0x000b, 0, "generic-80" },      /* BSC10 (ESC/POS) */
    { 0x2730, 0x0fff, 0, "citizen-ct-s310" }, /* CT-S2000/4000/310 series */
    { 0x2730, 0x200f, 0, "citizen-ct-s310" }, /* CT-S310 */
    { 0x1d90, 0x20f0, 0, "generic-80" },      /* Citizen CT-E351 */
    { 0x1504, 0x001f, 0, "bixolon-srp350" },  /* SRP-350II */
    { 0x0416, 0x5011, 0, "pos-5890" },        /* Zjiang POS-58 clones ("POS58 Printer USB") */
    { 0x0483, 0x5743, 0, "generic-80" },      /* POS-8022 and similar 80 mm */
    { 0x0483, 0x5840, 0, "generic-58" },      /* MPT-II 58 mm */
    { 0x0483, 0x5720, 0, "generic-80" },      /* POS80 */
    { 0x1fc9, 0x2016, 0, "xprinter-xp-n160" },/* Xprinter XP-N160II class */
    { 0x0fe6, 0x811e, 0, "generic-80" },      /* Dtronic and similar ("Parallel Adapter") */
    { 0x6868, 0x0500, 0, "generic-58" },      /* Zjiang */
    { 0x0456, 0x0808, 0, "generic-58" },      /* HOIN 58 mm "USB POS Printer" */
    { 0x04b8, 0,      1, "epson-tm-t88" },    /* other Epson receipt interfaces */
    { 0x0519, 0,      1, "star-tsp650" },
    { 0x1d90, 0,      1, "citizen-ct-s310" },
    { 0x2730, 0,      1, "citizen-ct-s310" },
    { 0x1504, 0,      1, "bixolon-srp350" },
    { 0x0419, 0,      1, "bixolon-srp350" },  /* old Samsung SRP */
};

static int contains_ci(const char *hay, const char *needle)
{
    if (!hay || !*hay) return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return 0;
}

const char *kv_usb_suggest_profile(uint16_t vid, uint16_t pid,
                                   const char *product, const char *device_id)
{
    for (size_t i = 0; i < sizeof name_rules / sizeof name_rules[0]; i++) {
        if (contains_ci(product, name_rules[i].fragment) ||
            contains_ci(device_id, name_rules[i].fragment))
            return name_rules[i].profile;
    }
    for (size_t i = 0; i < sizeof id_rules / sizeof id_rules[0]; i++)
        if (!id_rules[i].pid_any && id_rules[i].vid == vid && id_rules[i].pid == pid)
            return id_rules[i].profile;
    for (size_t i = 0; i < sizeof id_rules / sizeof id_rules[0]; i++)
        if (id_rules[i].pid_any && id_rules[i].vid == vid)
            return id_rules[i].profile;
    if (contains_ci(product, "58"))
        return "generic-58";
    return "generic-80";
}

int kv_usb_known_printer_id(uint16_t vid, uint16_t pid)
{
    for (size_t i = 0; i < sizeof id_rules / sizeof id_rules[0]; i++)
        if (id_rules[i].vid == vid && (id_rules[i].pid_any || id_rules[i].pid == pid))
            return 1;
    return 0;
}
