#!/bin/sh
# gen-assets.sh OUT - write OUT (a C file) from the cashier page's files
# (index.html, app.css, app.js) so the program serves them without reading
# any file at run time.  The Makefile runs it from the repository root
# whenever a file in src/serve/web/ changes (OUT = BUILD/gen/web_assets.c);
# nothing generated is committed.  Needs only sh, od and awk.
set -eu
dir=src/serve/web
out=${1:?usage: sh src/serve/web/gen-assets.sh OUT.c}
files="index.html app.css app.js"
{
    echo "/* web_assets.c - GENERATED at build time by src/serve/web/gen-assets.sh"
    echo " * from the files in src/serve/web/; do not edit. */"
    echo '#include <string.h>'
    echo
    echo '#include "src/serve/web_assets.h"'
    i=0
    for f in $files; do
        echo
        echo "static const unsigned char f$i[] = {"
        od -An -v -tx1 "$dir/$f" |
            awk '{ s = "   "; for (i = 1; i <= NF; i++) s = s " 0x" $i ","; print s }'
        echo "};"
        i=$((i + 1))
    done
    echo
    echo "static const kv_web_asset assets[] = {"
    i=0
    for f in $files; do
        case $f in
        *.html) t="text/html; charset=utf-8" ;;
        *.css) t="text/css; charset=utf-8" ;;
        *.js) t="text/javascript; charset=utf-8" ;;
        esac
        echo "    { \"$f\", \"$t\", f$i, sizeof f$i },"
        i=$((i + 1))
    done
    echo "};"
    cat <<'C'

const kv_web_asset *kv_web_asset_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof assets / sizeof assets[0]; i++)
        if (!strcmp(assets[i].name, name))
            return &assets[i];
    return NULL;
}

size_t kv_web_asset_count(void) { return sizeof assets / sizeof assets[0]; }

const kv_web_asset *kv_web_asset_at(size_t i)
{
    return i < sizeof assets / sizeof assets[0] ? &assets[i] : NULL;
}
C
} >"$out.tmp"
mv "$out.tmp" "$out"
