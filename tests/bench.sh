#!/bin/sh
# Run every benchmark and print its figures. Benchmarks measure; they never
# fail on time. Programs: BUILD/tests/bench_* (from tests/bench_*.c).
# Scripts: tests/bench_*.sh (run with the same environment).
# bench_proxy: kvitt proxy added latency, TCP throughput, trigger -> first slip byte.
# bench_chain: bench_serve on SQLite, on PostgreSQL, and 3 daemons behind HAProxy on PostgreSQL (+ takeover time after kill -9).
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
export KVITT_BIN="$root/$build/kvitt" KVITT_SRCDIR="$root"
[ -d "$root/../shared" ] && { KVITT_SHARED=$(cd "$root/../shared" && pwd); export KVITT_SHARED; }
# bench_reconcile: a day of 10,000 payments reconciled (KVITT_BENCH_N to change).
# bench_sticker: sticker check-in -> the payment request at the simulator (20 ms latency; target one round trip + 5 ms).
status=0
for b in "$root/$build"/tests/bench_* "$root"/tests/bench_*.sh; do
    [ -f "$b" ] || continue
    case $b in *.c) continue ;; esac
    echo "== $(basename "$b")"
    KVITT_TMP=$(mktemp -d /tmp/kvitt-bench.XXXXXX); export KVITT_TMP
    case $b in
        *.sh) (cd "$KVITT_TMP" && sh "$b") || status=1 ;;
        *) (cd "$KVITT_TMP" && "$b") || status=1 ;;
    esac
    rm -rf "$KVITT_TMP"
done
exit $status
