#!/bin/sh
# Build and run every libFuzzer target tests/fuzz/fuzz_*.c.
# usage: tests/fuzz/run.sh SECONDS [TARGET...]
#
# Each target is built with clang -fsanitize=fuzzer,address,undefined from
# its own file plus the library sources it names in a comment line
#   /* fuzz-sources: escpos drivers */
# (folders of the repository; every .c in them is compiled in), with the
# pkg-config flags of the project's packages.  It then runs for SECONDS
# over a copy of its committed corpus tests/fuzz/corpus_<name>/ (new
# inputs go to build/fuzz/corpus_<name>/, never into the repository).
# Crashes are written to build/fuzz/ and make the script fail.
set -u
secs=${1:-60}
shift 2>/dev/null || true
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (apt-get install clang)" >&2
    exit 2
fi
PKGS="libusb-1.0 libcurl libcjson libqrencode openssl libmicrohttpd sqlite3 libpng freetype2 zbar"
pcflags=$(pkg-config --cflags $PKGS 2>/dev/null)
pclibs=$(pkg-config --libs $PKGS 2>/dev/null)
targets="$*"
if [ -z "$targets" ]; then
    for f in "$root"/tests/fuzz/fuzz_*.c; do
        [ -f "$f" ] || continue
        targets="$targets $(basename "$f" .c)"
    done
fi
[ -n "$targets" ] || { echo "fuzz: no targets"; exit 0; }
status=0
for t in $targets; do
    src="$root/tests/fuzz/$t.c"
    [ -f "$src" ] || { echo "fuzz: no $src" >&2; status=1; continue; }
    dirs=$(sed -n 's@.*fuzz-sources:[[:space:]]*\([^*]*\).*@\1@p' "$src" | head -n1)
    libsrc=""
    for d in $dirs; do
        for c in "$root/$d"/*.c; do
            [ -f "$c" ] && libsrc="$libsrc $c"
        done
    done
    bin="$out/$t"
    echo "== build $t (sources: ${dirs:-none})"
    # shellcheck disable=SC2086
    if ! $CC -g -O1 -std=gnu11 -D_GNU_SOURCE -I"$root" $pcflags \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -o "$bin" "$src" $libsrc $pclibs -lpthread -lm; then
        echo "fuzz: $t does not build" >&2
        status=1
        continue
    fi
    name=${t#fuzz_}
    seed="$root/tests/fuzz/corpus_$name"
    work="$out/corpus_$name"
    mkdir -p "$work"
    [ -d "$seed" ] && cp -n "$seed"/* "$work"/ 2>/dev/null
    echo "== run $t for ${secs}s"
    (cd "$out" && ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
        "$bin" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 \
        -artifact_prefix="$out/$t-" "$work") >"$out/$t.log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n1)
    if [ "$rc" -ne 0 ]; then
        echo "$t: CRASH (exit $rc), see $out/$t.log"; tail -n 30 "$out/$t.log"
        status=1
    else
        echo "$t: ${runs:-?} executions, 0 crashes"
    fi
done
exit $status
