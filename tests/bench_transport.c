/* bench_transport.c - transport figures (printed, never asserted).
 *
 * 1. Throughput into `kvitt vprinter` over TCP on loopback, measured end to
 *    end: from connect until the emulator has filed the whole job on disk.
 * 2. Estimated link time for the canonical QR slip of issue 2 (80 mm,
 *    PC865, "Betal med Vipps", "Beløp: 149,00 kr", 139-byte URL at EC M
 *    with 6-dot modules, scan text, reference, feed + partial cut), built
 *    with the encoder, native QR and compact raster QR (and full raster),
 *    over USB full speed, TCP and serial 9600 / 115200 baud.  Link time =
 *    bytes / link rate; the printer's own printing time comes on top.
 *    Rates: USB 1.1 full speed bulk at most 19 x 64-byte packets per 1 ms
 *    frame = 1,216,000 B/s; serial 8N1 = 10 bits per byte (960 B/s at
 *    9600 baud, 11,520 B/s at 115200); TCP: a 100 Mbit/s printer NIC
 *    (12.5 MB/s) and the loopback figure measured in 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drivers/transport.h"
#include "escpos/encoder.h"
#include "src/doc/slip.h"
#include "tests/lib/kvtest.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char canonical_url[] =
    "https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway?v=2&token="
    "eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.abc123";

static size_t slip_bytes(kv_qr_mode mode, int no_compact)
{
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find("generic-80");
    eo.codepage = KV_CP_PC865;
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK)
        return 0;
    kv_slip_spec s = KV_SLIP_SPEC_INIT;
    s.url = canonical_url;
    s.amount_minor = 14900;
    s.currency = "NOK";
    s.reference = "POS-1-20261125-0001";
    s.qr.mode = mode;
    s.qr.module = 6;
    s.qr.ec = KV_QR_EC_M;
    s.qr.no_compact = no_compact;
    size_t len = 0;
    if (kv_slip_write(e, &s) == KV_ESCPOS_OK)
        kv_escpos_data(e, &len);
    else
        fprintf(stderr, "slip: %s\n", kv_escpos_errmsg(e));
    kv_escpos_destroy(e);
    return len;
}

/* Send total bytes to the vprinter; return MB/s (0 on failure). */
static double tcp_throughput(const char *uri, const char *dir, size_t total, int n)
{
    size_t chunk = 1u << 20;
    unsigned char *buf = malloc(chunk);
    if (!buf)
        return 0;
    for (size_t i = 0; i < chunk; i++)
        buf[i] = (unsigned char)(i * 31u);
    kv_transport *t = NULL;
    double t0 = now_s();
    if (kv_transport_open(&t, uri, NULL)) {
        free(buf);
        return 0;
    }
    for (size_t sent = 0; sent < total; sent += chunk) {
        size_t w;
        if (kv_transport_write(t, buf, chunk, &w, 30000)) {
            kv_transport_close(t);
            free(buf);
            return 0;
        }
    }
    kv_transport_close(t);
    free(buf);
    char *p = kvt_path("%s/%04d.bin", dir, n);
    struct stat sb;
    int ok = 0;
    for (int i = 0; i < 60000 && !ok; i++) {
        if (stat(p, &sb) == 0 && (size_t)sb.st_size == total)
            ok = 1;
        else
            usleep(500);
    }
    double dt = now_s() - t0;
    free(p);
    return ok ? (double)total / dt / 1e6 : 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    double mbs = 0;
    char *dir = kvt_path("%s/bench-vp", kvt_tmpdir());
    const char *argv[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out", dir, NULL };
    char *log = kvt_path("%s/bench-vp.log", kvt_tmpdir());
    kvt_proc *vp = kvt_spawn(argv, NULL, log);
    char *uri = vp ? kvt_proc_readline(vp, 10000) : NULL;
    if (uri) {
        size_t total = 64u << 20;
        double best = 0;
        for (int run = 1; run <= 3; run++) {
            double r = tcp_throughput(uri, dir, total, run);
            printf("tcp vprinter throughput run %d: %.1f MB/s (64 MiB, connect to filed on disk)\n",
                   run, r);
            if (r > best)
                best = r;
        }
        mbs = best;
        printf("tcp vprinter throughput (best of 3): %.1f MB/s\n", mbs);
        /* One canonical native slip, measured: connect, write, close
         * (median of 21; the emulator files it afterwards). */
        size_t n = 0;
        kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
        eo.profile = kv_profile_find("generic-80");
        eo.codepage = KV_CP_PC865;
        kv_escpos *e = NULL;
        if (kv_escpos_create(&e, &eo) == KV_ESCPOS_OK) {
            kv_slip_spec sp = KV_SLIP_SPEC_INIT;
            sp.url = canonical_url;
            sp.amount_minor = 14900;
            sp.reference = "POS-1-20261125-0001";
            sp.qr.mode = KV_QR_NATIVE;
            sp.qr.module = 6;
            const uint8_t *d = kv_slip_write(e, &sp) == KV_ESCPOS_OK ? kv_escpos_data(e, &n) : NULL;
            double tm[21];
            int k = 0;
            for (int i = 0; d && i < 21; i++) {
                kv_transport *t = NULL;
                size_t w;
                double t0 = now_s();
                if (kv_transport_open(&t, uri, NULL))
                    break;
                int st = kv_transport_write(t, d, n, &w, 5000);
                kv_transport_close(t);
                if (st)
                    break;
                tm[k++] = now_s() - t0;
            }
            for (int i = 1; i < k; i++)
                for (int j = i; j > 0 && tm[j] < tm[j - 1]; j--) {
                    double x = tm[j]; tm[j] = tm[j - 1]; tm[j - 1] = x;
                }
            if (k)
                printf("tcp native slip (%zu bytes) connect+write+close, median of %d: %.1f us\n",
                       n, k, tm[k / 2] * 1e6);
            kv_escpos_destroy(e);
        }
    } else {
        printf("tcp vprinter throughput: vprinter did not start (see %s)\n", log);
    }
    kvt_proc_stop(vp, SIGTERM);

    struct { const char *name; size_t bytes; } slips[] = {
        { "native QR (GS ( k)", slip_bytes(KV_QR_NATIVE, 0) },
        { "compact raster QR (GS v 0 m=3)", slip_bytes(KV_QR_RASTER, 0) },
        { "full raster QR (GS v 0 m=0)", slip_bytes(KV_QR_RASTER, 1) },
    };
    struct { const char *name; double bps; } links[] = {
        { "USB full speed (1,216,000 B/s)", 1216000.0 },
        { "TCP 100 Mbit/s (12.5 MB/s)", 12.5e6 },
        { "TCP loopback measured", mbs * 1e6 },
        { "serial 115200 8N1 (11,520 B/s)", 11520.0 },
        { "serial 9600 8N1 (960 B/s)", 960.0 },
    };
    printf("\ncanonical QR slip (80 mm, generic-80, PC865), link time to the printer:\n");
    for (size_t s = 0; s < sizeof slips / sizeof slips[0]; s++) {
        printf("  %s: %zu bytes\n", slips[s].name, slips[s].bytes);
        for (size_t l = 0; l < sizeof links / sizeof links[0]; l++) {
            if (links[l].bps <= 0)
                continue;
            double sec = (double)slips[s].bytes / links[l].bps;
            if (sec < 0.001)
                printf("    %-34s %8.1f us\n", links[l].name, sec * 1e6);
            else
                printf("    %-34s %8.3f s\n", links[l].name, sec);
        }
    }
    free(uri);
    free(log);
    free(dir);
    return 0;
}
