#!/bin/sh
# golden-update.sh - the ONLY way to (re)write the golden files in fixtures/.
#
# Every fixture is regenerated from the kvitt program itself: one line per
# fixture below, "fixture NAME kvitt-arguments...", which runs
# `kvitt ARGS... -o OUT/NAME.bin`.  Review the diff (git diff --stat
# fixtures/, and a hexdump/render of what changed) before committing.
#
# Usage: sh tests/golden-update.sh [BUILD]     (make golden-update)
# Environment:
#   KVITT_BIN         the kvitt program (default BUILD/kvitt)
#   KVITT_GOLDEN_OUT  where to write (default fixtures/); the golden test
#                     (tests/test_escpos_golden.c) writes to a scratch folder
#                     and compares every file with fixtures/ byte for byte.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
kvitt=${KVITT_BIN:-$root/$build/kvitt}
out=${KVITT_GOLDEN_OUT:-$root/fixtures}
mkdir -p "$out"

# The canonical slip of issue 2 (139-byte URL, EC M, 6-dot modules).
URL='https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway?v=2&token=eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.abc123'
REF=POS-1-20261125-0001

# fixture NAME ARGS...: write $out/NAME.bin with `kvitt ARGS -o FILE`.
fixture() {
    name=$1
    shift
    "$kvitt" "$@" -o "$out/$name.bin"
    echo "fixtures/$name.bin"
}

# QR slips
fixture slip-epson-tm-t88-native  slip --url "$URL" --amount 149.00 --reference "$REF" --profile epson-tm-t88 --codepage PC865 --qr native
fixture slip-epson-tm-t88-raster  slip --url "$URL" --amount 149.00 --reference "$REF" --profile epson-tm-t88 --codepage PC865 --qr raster
fixture slip-generic-58           slip --url "$URL" --amount 1234.50 --reference "$REF" --profile generic-58 --store-name "Kiosken på hjørnet"
fixture slip-citizen-ct-s310-da   slip --url "$URL" --amount 75 --currency DKK --lang da --reference "$REF" --profile citizen-ct-s310 --expiry 12:45
fixture slip-star-tsp650-fi       slip --url "$URL" --amount 9.90 --currency EUR --lang fi --reference "$REF" --profile star-tsp650
fixture slip-bixolon-srp350-sv    slip --url "$URL" --amount 249.50 --currency SEK --lang sv --profile bixolon-srp350 --qr raster --module 5

# sample receipts (src/doc/sample.c)
fixture receipt-epson-tm-t88      sample-receipt --profile epson-tm-t88
fixture receipt-epson-tm-t20-fi   sample-receipt --profile epson-tm-t20 --lang fi --currency EUR
fixture receipt-pos-5890          sample-receipt --profile pos-5890
fixture receipt-xprinter-xp-n160-en sample-receipt --profile xprinter-xp-n160 --lang en --currency NOK --codepage WPC1252

# Z reports (src/doc/zreport.c, `kvitt report sample`)
fixture zreport-epson-tm-t88      report sample --profile epson-tm-t88
fixture zreport-citizen-ct-s310-da report sample --profile citizen-ct-s310 --lang da --currency DKK

# Rendered previews: NAME.png beside every NAME.bin, drawn by `kvitt render`
# with the profile whose name the file name contains (the longest match),
# else the default profile.  tests/test_render.c renders every fixtures/*.bin
# the same way and compares it with the PNG pixel for pixel.
profiles=$("$kvitt" profiles | awk 'NR > 1 && $2 ~ /^[0-9]+$/ { print $1 }')
for f in "$out"/*.bin; do
    [ -f "$f" ] || continue
    base=$(basename "$f" .bin)
    best=""
    for p in $profiles; do
        case $base in
            *"$p"*) [ ${#p} -gt ${#best} ] && best=$p ;;
        esac
    done
    "$kvitt" -q render "$f" -o "${f%.bin}.png" ${best:+--profile "$best"}
    echo "fixtures/$base.png${best:+ ($best)}"
done
