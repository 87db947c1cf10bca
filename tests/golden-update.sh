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

# Streams of other software (issue 14), bytes written by hand from the
# command reference (escpos.md section 1) with printf octal escapes:
# raw NAME FORMAT writes $out/NAME.bin.
raw() {
    printf "$2" > "$out/$1.bin"
    echo "fixtures/$1.bin"
}
# ESC @; "Cappuccino, stor" ESC $ 400 (220 001) "52,00" LF; "Te" ESC \ 100 "22,00" LF
raw fidelity-positions '\033@Cappuccino, stor\033$\220\00152,00\nTe\033\\\144\00022,00\n\n'
# ESC B 3 2 (buzzer: 3 beeps, 100 ms) between two lines: no stray text
raw fidelity-buzzer '\033@Before\n\033B\003\002After\n\n'
# "Line 1" LF "Line 2" LF ESC e 2 (back two lines) "      overprint" LF
raw fidelity-reverse-feed '\033@Line 1\nLine 2\n\033e\002      over\n\n\n'
# ESC M 0/1/2: fonts A, B, C
raw fidelity-fonts '\033@Font A 0123\n\033M\001Font B 0123\n\033M\002Font C 0123\n\n'
# ESC { 1 "Upside down" LF, ESC { 0; ESC V 1 "Turned" LF, ESC V 0
raw fidelity-upside-rotate '\033@Normal\n\033{\001Upside down\n\033{\000\033V\001Turned\n\033V\000\n'
# ESC t 17 (PC866) "Привет", ESC t 18 (PC852) "Łódź", ESC t 46 (WPC1251) "Привет",
# ESC t 45 (WPC1250) "Łódź", ESC t 1 (Katakana) "ｶﾅ"
raw fidelity-codepages '\033@\033t\021\217\340\250\242\245\342\n\033t\022\235\242d\253\n\033t\056\317\360\350\342\345\362\n\033t\055\243\363d\237\n\033t\001\266\305\n\n'
# GS ( k model 1 (n1 = 49), store "ABC", print: a hatched, unverifiable box
raw fidelity-qr-model1 '\033@\035(k\004\0001A1\000\035(k\006\0001P0ABC\035(k\003\0001Q0\n'

# Example till output for `kvitt proxy` (docs/proxy.md, etc/proxy/kvitt-proxy.conf):
# three kinds of till, written as each prints.  Not rendered (fixtures/proxy/).
mkdir -p "$out/proxy"
# 1. Epson-style Norwegian till: ESC t 5 (PC865), columns of spaces, GS V 66 3.
#    Rule: ^VIPPS +{amount}$
raw proxy/till-epson-nb '\033@\033t\005\033a\001Kaffebaren p\206 hj\233rnet\n\033a\000Kaffe latte              45,00\nSkolebolle               32,00\n\033E\001SUM                      77,00\033E\000\nVIPPS                    77,00\n\n\035VB\003'
# 2. Danish till laid out with ESC $ (absolute positions, 400 dots), ESC i cut.
#    Rule: ^MobilePay +(?<amount>[0-9.]+,[0-9]{2})$
raw proxy/till-positions-da '\033@\033t\020Cappuccino, stor\033$\220\00152,00\nKage 3 stk.\033$\220\0011.000,00\nMobilePay\033$\220\0011.052,00\n\n\n\033i'
# 3. Finnish till in WPC1252 (ESC t 16), no-break space as thousands
#    separator, euro sign after the amount, no cut (the idle gap ends it).
#    Rule: ^Vipps MobilePay +{amount} €$
raw proxy/till-wpc1252-fi '\033@\033t\020Yhteens\344          1\240234,50 \200\nVipps MobilePay   1\240234,50 \200\n\033d\005'
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
