#!/bin/bash
# Run every cmocka suite in BUILD/tests and add up the results.
# usage: tests/run.sh BUILD LABEL [BUILD LABEL ...]
# (several builds, e.g. plain and sanitizers, share one pool of runners)
# Each suite runs with:
#   KVITT_BIN        the kvitt program of the same build flavour
#   KVITT_SRCDIR     the repository root (fixtures live here)
#   KVITT_SHARED     ../shared when it exists (tests that need it skip otherwise)
#   KVITT_TMP        a fresh scratch folder, removed afterwards
#   KVITT_PORTS_DIR  where kvt_free_port() marks the ports it handed out, so
#                    that suites running side by side never get the same one
# Suites named test_usb* run under umockdev-wrapper (emulated USB devices).
#
# KVITT_JOBS suites run at once (default: two per CPU, at most 8; most
# suites wait on sockets, timers and child processes, not on the CPU: a
# whole plain run uses about a third of one CPU's time).  The suites
# that are known to take longest start first; every suite is still one
# process with its own scratch folder, log and timeout.  A suite's line is
# printed when it ends; the totals come last.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # `sh tests/run.sh` works too
set -u
[ $# -ge 2 ] || set -- "${1:-build}" tests
builds=(); labels=()
while [ $# -ge 2 ]; do builds+=("$1"); labels+=("$2"); shift 2; done
root=$(cd "$(dirname "$0")/.." && pwd)
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

cpus=$(nproc 2>/dev/null || echo 1)
jobs=${KVITT_JOBS:-$(( cpus * 2 > 8 ? 8 : cpus * 2 ))}
case $jobs in ''|*[!0-9]*|0) echo "tests/run.sh: KVITT_JOBS must be a number >= 1" >&2; exit 2 ;; esac

resdir=$(mktemp -d "/tmp/kvitt-run.XXXXXX")
KVITT_PORTS_DIR="$resdir/ports"; export KVITT_PORTS_DIR
mkdir -p "$KVITT_PORTS_DIR"
trap 'rm -rf "$resdir"' EXIT
trap 'kill $(jobs -p) 2>/dev/null; exit 130' INT TERM

# Longest first (seconds on a 2-core machine); the rest in name order.
first="test_cashier test_chain_failover test_reconcile test_serve_pg test_chain test_flow_pay_pg
       test_serve_scale test_sticker test_proxy test_quickstart test_report"
tasks=()   # "BUILD-INDEX SUITE", the known long ones of every build first
for name in $first; do
    for i in "${!builds[@]}"; do
        [ -x "$root/${builds[$i]}/tests/$name" ] && tasks+=("$i $name")
    done
done
for i in "${!builds[@]}"; do
    mkdir -p "$root/${builds[$i]}/test-logs"   # one log per suite, overwritten by its next run
    for t in "$root/${builds[$i]}"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        case " $(echo $first) " in *" $name "*) continue ;; esac
        tasks+=("$i $name")
    done
done
run_one() {
    local i=$1 name=$2 build=${builds[$1]} wrap="" rc start secs p f s tag=""
    local t="$root/$build/tests/$name" log="$root/$build/test-logs/$name.log"
    [ "${#builds[@]}" -gt 1 ] && tag="${labels[$i]}: "
    export KVITT_BIN="$root/$build/kvitt"
    KVITT_TMP=$(mktemp -d "/tmp/kvitt-$name.XXXXXX"); export KVITT_TMP
    case $name in test_usb*) wrap="umockdev-wrapper" ;; esac
    start=$(date +%s)
    (cd "$KVITT_TMP" && timeout 600 $wrap "$t") >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    rm -rf "$KVITT_TMP"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    p=${p:-0}; f=${f:-0}; s=${s:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    {
        if [ "$f" -ne 0 ]; then
            printf '%s%-28s FAIL (%s passed, %s failed, exit %s, %ss)\n' "$tag" "$name" "$p" "$f" "$rc" "$secs"
            echo "---- $tag$name log (tail) ----"; tail -n 60 "$log"; echo "----"
        else
            printf '%s%-28s ok   (%s passed, %s skipped, %ss)\n' "$tag" "$name" "$p" "$s" "$secs"
        fi
        grep -h '^SKIP:' "$log" 2>/dev/null | sort -u | sed 's/^/    /'
    } >"$resdir/$i.$name.out"
    echo "$p $f $s" >"$resdir/$i.$name.sum"
    cat "$resdir/$i.$name.out"
}

started=$(date +%s)
running=0
for task in "${tasks[@]}"; do
    name=${task#* }
    if [ -n "${KVITT_TESTS:-}" ]; then
        case " $KVITT_TESTS " in *" $name "*) ;; *) continue ;; esac
    fi
    while [ "$running" -ge "$jobs" ]; do
        wait -n
        running=$((running - 1))
    done
    run_one ${task%% *} "$name" &
    running=$((running + 1))
done
wait

echo "($jobs suites at a time, $(( $(date +%s) - started ))s)"
all_ok=1   # the totals come last: "LABEL: N passed, F failed, S skipped"
for i in "${!builds[@]}"; do
    passed=0; failed=0; skipped=0; bad=""
    for sum in "$resdir/$i".*.sum; do
        [ -e "$sum" ] || continue
        read -r p f s <"$sum"
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        if [ "$f" -ne 0 ]; then n=${sum#"$resdir/$i."}; bad="$bad ${n%.sum}"; fi
    done
    [ -n "$bad" ] && echo "${labels[$i]}: failing suites:$bad"
    echo "${labels[$i]}: $passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ] || all_ok=0
done
[ "$all_ok" -eq 1 ]
