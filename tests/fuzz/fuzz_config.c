/* fuzz-sources: src/config */
/*
 * fuzz_config.c - libFuzzer target over the configuration loader
 * (src/config): the input is a whole kvitt.conf, handed to kv_config_load
 * through an in-memory file (memfd), so no disk is touched.  A loaded
 * configuration is walked through every accessor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("kvitt.conf", 0);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    fchmod(fd, 0600); /* private, so [credentials] in the input are parsed too */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    kv_config *c = NULL;
    char err[512];
    if (kv_config_load(&c, path, err, sizeof err) == KV_C_OK) {
        const char *sec;
        for (size_t i = 0; (sec = kv_config_section_at(c, i)); i++) {
            const char *k;
            for (size_t j = 0; (k = kv_config_key_at(c, sec, j)); j++)
                (void)kv_config_get(c, sec, k);
        }
        for (size_t i = 0; i < kv_config_store_count(c); i++) {
            const kv_store *s = kv_config_store_at(c, i);
            (void)kv_config_credentials(c, s);
            (void)kv_config_store_by_prefix(c, s->reference_prefix);
        }
        kv_config_free(c);
    }
    close(fd);
    return 0;
}
