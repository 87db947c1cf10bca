/*
 * usb_profiles.h - suggest a printer profile for a USB device.
 *
 * A data table (drivers/usb_profiles.c) of receipt-printer USB IDs and
 * product-name fragments, mapped to kvitt's profile names (generic-58,
 * generic-80, epson-tm-t20, epson-tm-t88, epson-tm-t88iii, star-tsp650,
 * citizen-ct-s310, bixolon-srp350, xprinter-xp-n160, pos-5890).
 *
 * Clones reuse microcontroller vendors' IDs (Winbond 0416, ST 0483, NXP
 * 1fc9, ...), so a VID:PID match is only a hint: the product string and the
 * IEEE-1284 model (MDL) are tried first, and the user can always configure
 * the profile.
 */
#ifndef KV_DRIVERS_USB_PROFILES_H
#define KV_DRIVERS_USB_PROFILES_H

#include <stdint.h>

/* Suggested profile name for a device.  product and device_id may be NULL
 * or "".  Returns a static string, never NULL: "generic-80" when nothing
 * matches. */
const char *kv_usb_suggest_profile(uint16_t vid, uint16_t pid,
                                   const char *product, const char *device_id);

/* 1 when vid:pid is in the table of known receipt-printer IDs (exact PID,
 * or a vendor that only makes receipt printers), else 0. */
int kv_usb_known_printer_id(uint16_t vid, uint16_t pid);

#endif
