/* qrcap.c - QR model 2 byte-mode capacity, from the symbol's geometry and
 * the error-correction block structure of ISO/IEC 18004 (public spec
 * data), so a native QR code's size is known without encoding the symbol.
 *
 * A version-v symbol is 17 + 4v modules wide.  Its codewords are the
 * modules left after the finder, timing, alignment, format and version
 * patterns, divided by 8; of them, blocks x ec_per_block carry error
 * correction and the rest carry data: a mode indicator (4 bits), a byte
 * count (8 bits up to version 9, 16 bits above) and 8 bits per byte. */
#include "escpos/encoder.h"

/* Error-correction codewords per block, by level (L M Q H) and version. */
static const unsigned char ec_per_block[4][41] = {
    { 0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
      28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30 },
    { 0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
      26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28 },
    { 0, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30,
      28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30 },
    { 0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28,
      30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30 },
};

/* Error-correction blocks, by level and version. */
static const unsigned char ec_blocks[4][41] = {
    { 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
      8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25 },
    { 0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16,
      17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49 },
    { 0, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20,
      23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68 },
    { 0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25,
      25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81 },
};

/* Modules of a version-v symbol that carry codewords (data + EC +
 * remainder bits). */
static unsigned data_modules(unsigned v)
{
    unsigned n = (16 * v + 128) * v + 64;   /* all modules minus finders, separators, timing, format */
    if (v >= 2) {
        unsigned a = v / 7 + 2;             /* alignment patterns per row */
        n -= (25 * a - 10) * a - 55;
        if (v >= 7)
            n -= 36;                        /* two version information blocks */
    }
    return n;
}

unsigned kv_qr_byte_capacity(unsigned version, kv_qr_ec ec)
{
    if (version < 1 || version > 40 || (unsigned)ec > 3)
        return 0;
    unsigned codewords = data_modules(version) / 8;
    unsigned data = codewords - (unsigned)ec_per_block[ec][version] * ec_blocks[ec][version];
    unsigned header = 4 + (version <= 9 ? 8 : 16);
    return (data * 8 - header) / 8;
}

unsigned kv_qr_version_for(size_t len, kv_qr_ec ec)
{
    if (len == 0 || (unsigned)ec > 3)
        return 0;
    for (unsigned v = 1; v <= 40; v++)
        if (len <= kv_qr_byte_capacity(v, ec))
            return v;
    return 0;
}
