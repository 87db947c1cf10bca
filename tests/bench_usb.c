/*
 * bench_usb.c - how long the canonical QR slip takes to reach a USB printer.
 *
 * Prints figures, asserts nothing about time.  Two parts:
 *
 * 1. Link estimate for USB full speed (12 Mbit/s).  A full-speed bulk
 *    endpoint with 64-byte packets moves at most 19 packets per 1 ms frame
 *    (USB 2.0 spec, table 5-10 of the bulk transaction limits), and a
 *    transfer starts at the next frame, so: frames = ceil(packets / 19),
 *    link time = (frames + 1) ms in the worst case (one frame of waiting).
 *    Printing itself (paper feed, heating) is the same over every link and
 *    is not included.
 *
 * 2. Host path, measured: the slip written through kvitt's USB transport
 *    (drivers/usb.c) over the real libusb backend to an emulated TM-T88
 *    (umockdev, tests/lib/usbfake.c).  The emulation's socket round trips
 *    are slower than a kernel URB, so this is an upper bound on the host's
 *    own cost per job.  The program re-runs itself under umockdev-wrapper.
 *
 * The slips are fixtures/slip-epson-tm-t88-native.bin and
 * fixtures/slip-epson-tm-t88-raster.bin (the canonical slip of issue 2,
 * written by `make golden-update`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/usb.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/usbfake.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void bench_slip(const char *label, const char *fixture, kvt_usbbed *bed, kvt_usbdev *dev)
{
    char *path = kvt_path("%s/fixtures/%s", kvt_srcdir(), fixture);
    unsigned char *job = NULL;
    size_t len = 0;
    if (kvt_read_file(path, &job, &len) != 0) {
        printf("usb %-7s skipped: %s missing (run make golden-update)\n", label, path);
        free(path);
        return;
    }
    free(path);
    size_t packets = (len + 63) / 64;
    size_t frames = (packets + 18) / 19;
    printf("usb %-7s %5zu bytes: full-speed link estimate %zu packets, %zu frame(s), "
           "%.1f-%.1f ms\n", label, len, packets, frames, (double)frames, (double)frames + 1.0);

    if (!bed) { free(job); return; }
    kv_transport *t = NULL;
    char err[512] = "";
    if (kv_transport_usb_ops.open(&t, "usb://04b8:0202", 1000, err, sizeof err) != KV_T_OK) {
        printf("usb %-7s host path skipped: %s\n", label, err);
        free(job);
        return;
    }
    int iters = 200;
    double t0 = now_ms();
    for (int i = 0; i < iters; i++) {
        size_t w = 0;
        if (kv_transport_usb_ops.write(t, job, len, &w, 1000) != KV_T_OK || w != len) {
            printf("usb %-7s host path failed: %s\n", label, t->errmsg);
            break;
        }
    }
    double per = (now_ms() - t0) / iters;
    size_t got = 0;
    kvt_usbdev_received(dev, &got);
    printf("usb %-7s host path (libusb + umockdev, upper bound): %.3f ms/job over %d jobs "
           "(%zu bytes delivered); time to paper (bytes at the printer) <= %.1f ms\n",
           label, per, iters, got, per + (double)frames + 1.0);
    kv_transport_usb_ops.close(t);
    free(job);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *pre = getenv("LD_PRELOAD");
    if ((!pre || !strstr(pre, "umockdev-preload")) && !getenv("KVITT_BENCH_NO_WRAP")) {
        setenv("KVITT_BENCH_NO_WRAP", "1", 1);    /* do not loop if the wrapper fails */
        execlp("umockdev-wrapper", "umockdev-wrapper", argv[0], (char *)NULL);
        /* no umockdev: print the estimate only */
    }
    static const char *const strings[4] = { NULL, "EPSON", "TM-T88V", "BENCH0001" };
    kvt_usbbed *bed = kvt_usbbed_new();
    kvt_usbdev *dev = bed ? kvt_usbbed_add(bed, "tm-t88", "/dev/bus/usb/001/002", 1, strings) : NULL;
    if (!dev) {
        printf("usb: umockdev not available; link estimates only\n");
        kvt_usbbed_free(bed);
        bed = NULL;
    }
    bench_slip("native", "slip-epson-tm-t88-native.bin", bed, dev);
    bench_slip("raster", "slip-epson-tm-t88-raster.bin", bed, dev);
    kvt_usbbed_free(bed);
    return 0;
}
