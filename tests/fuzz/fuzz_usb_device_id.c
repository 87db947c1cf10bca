/* fuzz_usb_device_id.c - what a USB printer answers to GET_DEVICE_ID is
 * untrusted: kv_usb_parse_device_id on the raw reply (any length prefix,
 * any bytes), then kv_usb_device_id_field and the profile suggestion on the
 * result, with a small and a large output buffer.
 * fuzz-sources: drivers escpos */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/usb.h"
#include "drivers/usb_profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[512], small[5], v[64];
    if (kv_usb_parse_device_id(id, sizeof id, data, size) == KV_T_OK) {
        size_t n = strlen(id);
        if (n >= sizeof id)
            abort();
        /* no control characters survive: they could reach the paper */
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] == 0x7f)
                abort();
        static const char *const keys[] = { "MFG", "MDL", "CMD", "SN", "DES", "MODEL" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (kv_usb_device_id_field(v, sizeof v, id, keys[k]) && strlen(v) >= sizeof v)
                abort();
        if (!kv_usb_suggest_profile(size > 1 ? (uint16_t)(data[0] << 8 | data[1]) : 0, 0,
                                    id, id))
            abort();
    }
    if (kv_usb_parse_device_id(small, sizeof small, data, size) == KV_T_OK &&
        strlen(small) >= sizeof small)
        abort();
    return 0;
}
