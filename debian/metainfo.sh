#!/bin/sh
# debian/metainfo.sh RULES > kvitt.metainfo.xml
# AppStream metadata announcing the USB printers that the udev rule RULES
# opens to the lp group (lintian: appstream-metadata-missing-modalias-
# provide): one modalias per vendor (and product) the rule names, plus any
# device with a printer-class interface (07/01).
set -eu
rules=$1
cat <<'HEAD'
<?xml version="1.0" encoding="UTF-8"?>
<component type="console-application">
  <id>org.example.kvitt</id>
  <metadata_license>MIT</metadata_license>
  <project_license>MIT</project_license>
  <name>kvitt</name>
  <summary>Vipps MobilePay payments at the till, on the receipt printer</summary>
  <description>
    <p>kvitt takes Vipps MobilePay payments at a till with an ESC/POS receipt
    printer: it prints the QR code for the customer and the receipt, over USB,
    the lp driver, TCP or a serial line.</p>
  </description>
  <provides>
    <binary>kvitt</binary>
    <modalias>usb:v*p*d*dc*dsc*dp*ic07isc01ip*</modalias>
HEAD
sed -n 's/.*ATTR{idVendor}=="\([0-9a-f]\{4\}\)", ATTR{idProduct}=="\([0-9a-f]\{4\}\)".*/\1 \2/p;
        s/.*ATTR{idVendor}=="\([0-9a-f]\{4\}\)", GROUP.*/\1 */p' "$rules" |
while read -r v p; do
    v=$(echo "$v" | tr 'a-f' 'A-F')
    if [ "$p" = "*" ]; then
        echo "    <modalias>usb:v${v}p*</modalias>"
    else
        echo "    <modalias>usb:v${v}p$(echo "$p" | tr 'a-f' 'A-F')d*</modalias>"
    fi
done
cat <<'TAIL'
  </provides>
</component>
TAIL
