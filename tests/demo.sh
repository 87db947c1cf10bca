#!/bin/sh
# make demo: one whole payment on the built-in simulator and a virtual printer.
#   1. start `kvitt sim` (the customer approves after 3 s) and let it write a
#      configuration into demo-out/;
#   2. run `kvitt pay --amount 149.00 --show-qr` (QR code in the terminal);
#   3. stop the simulator, render the printed jobs to PNG, say where they are.
# usage: tests/demo.sh BUILD   (run from the repository root by `make demo`)
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
kvitt="$root/$build/kvitt"
out="$root/demo-out"
if [ ! -x "$kvitt" ]; then
    echo "demo: $kvitt is missing; run 'make' first" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out"

"$kvitt" sim --listen 127.0.0.1:0 --auto approve --approve-after 3 \
    --write-config "$out/kvitt.conf" --quiet >"$out/sim.url" 2>"$out/sim.log" &
sim_pid=$!
cleanup() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

i=0
while [ ! -s "$out/sim.url" ] || [ ! -s "$out/kvitt.conf" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ] || ! kill -0 "$sim_pid" 2>/dev/null; then
        echo "demo: the simulator did not start:" >&2
        cat "$out/sim.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "demo: simulator at $(head -n1 "$out/sim.url") (the customer approves after 3 s)"
echo "demo: kvitt --config demo-out/kvitt.conf pay --amount 149.00 --show-qr"
rc=0
"$kvitt" --config "$out/kvitt.conf" pay --amount 149.00 --show-qr --no-recover || rc=$?
cleanup
trap - EXIT INT TERM

echo
echo "demo: kvitt pay exited with $rc (0 = paid)"
found=0
for bin in "$out"/printer/*/*.bin; do
    [ -f "$bin" ] || continue
    found=1
    png="${bin%.bin}.png"
    if "$kvitt" render -o "$png" "$bin"; then
        echo "demo: $bin -> $png"
    else
        echo "demo: $bin (could not render a PNG)"
    fi
done
[ "$found" -eq 1 ] || echo "demo: nothing was printed"
echo "demo: the first job is the QR slip, the second the receipt; journal: $out/kvitt-journal.db"
exit "$rc"
