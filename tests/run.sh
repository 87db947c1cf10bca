#!/bin/sh
# Run every cmocka suite in BUILD/tests and add up the results.
# usage: tests/run.sh BUILD LABEL
# Each suite runs with:
#   KVITT_BIN      the kvitt program of the same build flavour
#   KVITT_SRCDIR   the repository root (fixtures live here)
#   KVITT_SHARED   ../shared when it exists (tests that need it skip otherwise)
#   KVITT_TMP      a fresh scratch folder, removed afterwards
# Suites named test_usb* run under umockdev-wrapper (emulated USB devices).
set -u
build=${1:-build}
label=${2:-tests}
root=$(cd "$(dirname "$0")/.." && pwd)
export KVITT_BIN="$root/$build/kvitt"
export KVITT_SRCDIR="$root"
if [ -d "$root/../shared" ]; then
    KVITT_SHARED=$(cd "$root/../shared" && pwd); export KVITT_SHARED
else
    unset KVITT_SHARED 2>/dev/null || true
fi
# umockdev preloads itself; ASan must tolerate not being first.
export ASAN_OPTIONS="${ASAN_OPTIONS:-verify_asan_link_order=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export CMOCKA_MESSAGE_OUTPUT=STDOUT

logdir="$root/$build/test-logs"
mkdir -p "$logdir"   # one log per suite, overwritten by its next run
passed=0; failed=0; skipped=0; bad=""
for t in "$root/$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ -n "${KVITT_TESTS:-}" ]; then
        case " $KVITT_TESTS " in *" $name "*) ;; *) continue ;; esac
    fi
    KVITT_TMP=$(mktemp -d "/tmp/kvitt-$name.XXXXXX"); export KVITT_TMP
    case $name in
        test_usb*) wrap="umockdev-wrapper" ;;
        *) wrap="" ;;
    esac
    start=$(date +%s)
    (cd "$KVITT_TMP" && timeout 600 $wrap "$t") >"$logdir/$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    rm -rf "$KVITT_TMP"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$logdir/$name.log" | tail -n1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$logdir/$name.log" | tail -n1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$logdir/$name.log" | tail -n1)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" -ne 0 ]; then
        bad="$bad $name"
        printf '%-28s FAIL (%s passed, %s failed, exit %s, %ss)\n' "$name" "$p" "$f" "$rc" "$secs"
        echo "---- $name log (tail) ----"; tail -n 60 "$logdir/$name.log"; echo "----"
    else
        printf '%-28s ok   (%s passed, %s skipped, %ss)\n' "$name" "$p" "$s" "$secs"
    fi
    grep -h '^SKIP:' "$logdir/$name.log" 2>/dev/null | sort -u | sed 's/^/    /'
done
[ -n "$bad" ] && echo "failing suites:$bad"
echo "$label: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
