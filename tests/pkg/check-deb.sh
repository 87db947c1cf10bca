#!/bin/sh
# make check-deb: the packages of `make deb` (built first when missing) work.
#   A. unpacked with dpkg-deb -x (no root needed): kvitt --version,
#      kvitt profiles and kvitt selftest --printer virtual:DIR run from the
#      unpacked tree; a man page per command; the unit's Documentation=
#      exists; examples/receipt.c builds against libkvitt-dev's kvitt.pc.
#   B. installed with apt in a throwaway minimal root (root and debootstrap
#      needed; lib.sh), so the maintainer scripts really run: the kvitt user
#      in group lp, /var/lib/kvitt 0700 and /etc/kvitt 0750 owned by kvitt,
#      the secrets file 0600, the unit not enabled; a reinstall keeps a
#      changed configuration; purge removes /etc/kvitt but keeps a journal.
set -u
PKG_CHECK=check-deb
. "$(dirname "$0")/lib.sh"
cd "$pkg_root" || exit 1
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb=$pkg_root/build/deb/kvitt_${version}_${arch}.deb
dev=$pkg_root/build/deb/libkvitt-dev_${version}_${arch}.deb
[ -f "$deb" ] && [ -f "$dev" ] || sh tests/pkg/build-deb.sh || die "make deb"

# ---- A: unpacked --------------------------------------------------------
x=$PKG_WORK/deb-x
rm -rf "$x" && mkdir -p "$x" && dpkg-deb -x "$deb" "$x" && dpkg-deb -x "$dev" "$x" || die "dpkg-deb -x"
got=$("$x/usr/bin/kvitt" --version) || die "kvitt --version failed"
[ "$got" = "kvitt $version" ] || die "kvitt --version says '$got', the package is $version"
"$x/usr/bin/kvitt" profiles | grep -q '^generic-80' || die "kvitt profiles lists no generic-80"
vp=$PKG_WORK/deb-vprinter
rm -rf "$vp"
"$x/usr/bin/kvitt" selftest --printer "virtual:$vp" >"$PKG_WORK/deb-selftest.log" 2>&1 ||
    { cat "$PKG_WORK/deb-selftest.log" >&2; die "kvitt selftest --printer virtual:DIR failed"; }
[ -s "$vp/0001.bin" ] || die "selftest printed no job into $vp"
for c in $(sed -n 's/^KV_CMD([^,]*, *"\([^"]*\)".*/\1/p' src/cli/commands.def); do
    [ -f "$x/usr/share/man/man1/kvitt-$c.1.gz" ] || die "no man page kvitt-$c(1) in the package"
done
[ -f "$x/usr/share/man/man5/kvitt.conf.5.gz" ] || die "no kvitt.conf(5)"
unit=$x/lib/systemd/system/kvitt.service
grep -q '^ExecStart=/usr/bin/kvitt serve ' "$unit" || die "the unit does not run /usr/bin/kvitt"
for d in $(sed -n 's/^Documentation=//p' "$unit"); do
    case $d in
        file://*) [ -f "$x${d#file://}" ] || die "Documentation=$d is not in the package" ;;
        man:*) p=${d#man:}; s=${p#*(}; s=${s%)}; p=${p%%(*}
               [ -f "$x/usr/share/man/man$s/$p.$s.gz" ] || die "Documentation=$d is not in the package" ;;
    esac
done
[ -f "$x/lib/udev/rules.d/60-kvitt-printers.rules" ] || die "no udev rule"
ex=$x/usr/share/doc/libkvitt-dev/examples/receipt.c
[ -f "$ex" ] || die "libkvitt-dev has no examples/receipt.c"
PKG_CONFIG_PATH=$x/usr/lib/$multiarch/pkgconfig PKG_CONFIG_SYSROOT_DIR=$x \
    sh -c 'cc -Wall -Wextra -Werror -o "$1/receipt" "$2" $(pkg-config --cflags --libs kvitt)' sh "$PKG_WORK" "$ex" ||
    die "examples/receipt.c does not build against libkvitt-dev"
"$PKG_WORK/receipt" "$PKG_WORK/receipt.bin" 2>/dev/null && [ -s "$PKG_WORK/receipt.bin" ] || die "the example did not run"
say "A ok: unpacked: --version, profiles, selftest, man pages, unit, udev rule, libkvitt-dev + example"

# ---- B: installed in a minimal root -----------------------------------------
if ! can_make_root; then
    echo "SKIP: check-deb B: installing in a root needs root and debootstrap"
    exit 0
fi
R=$PKG_WORK/deb-root
trap 'drop_root "$R"' EXIT INT TERM
make_root "$R" || die "cannot make a minimal root"
cp "$deb" "$R/tmp/kvitt.deb"
say "apt-get install ./kvitt_${version}_${arch}.deb in a minimal root (log: $PKG_WORK/deb-install.log)"
in_root "$R" "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/kvitt.deb" \
    >"$PKG_WORK/deb-install.log" 2>&1 || { tail -n 30 "$PKG_WORK/deb-install.log" >&2; die "apt-get install"; }
expect() { # expect WHAT COMMAND EXPECTED
    got=$(in_root "$R" "$2" 2>&1)
    [ "$got" = "$3" ] || die "$1: '$got', expected '$3'"
}
expect "kvitt in lp" "id -nG kvitt | tr ' ' '\n' | grep -x lp" "lp"
expect "/var/lib/kvitt" "stat -c '%U:%G %a' /var/lib/kvitt" "kvitt:kvitt 700"
expect "/etc/kvitt" "stat -c '%U:%G %a' /etc/kvitt" "kvitt:kvitt 750"
expect "kvitt.secrets" "stat -c '%U:%G %a' /etc/kvitt/kvitt.secrets" "kvitt:kvitt 600"
expect "kvitt.conf" "stat -c '%U:%G %a' /etc/kvitt/kvitt.conf" "kvitt:kvitt 640"
expect "unit enabled?" "ls /etc/systemd/system/multi-user.target.wants/kvitt.service 2>/dev/null | wc -l" "0"
expect "kvitt --version" "kvitt --version" "kvitt $version"
expect "selftest" "kvitt selftest --printer virtual:/tmp/vp >/dev/null 2>&1 && ls /tmp/vp" "0001.bin"
# The shipped configuration parses (with the credentials' variables set).
expect "shipped kvitt.conf" "KVITT_CLIENT_ID=a KVITT_CLIENT_SECRET=b KVITT_SUBSCRIPTION_KEY=c kvitt find >/dev/null 2>&1; echo \$?" "1"
say "B ok: installed: user kvitt in lp, folders and modes, unit not enabled, kvitt runs"

in_root "$R" "echo '# changed by the admin' >> /etc/kvitt/kvitt.conf && echo '# mine' >> /etc/kvitt/kvitt.secrets"
in_root "$R" "dpkg -i /tmp/kvitt.deb" >>"$PKG_WORK/deb-install.log" 2>&1 || die "reinstall"
expect "changed kvitt.conf after reinstall" "tail -n1 /etc/kvitt/kvitt.conf" "# changed by the admin"
expect "changed secrets after reinstall" "tail -n1 /etc/kvitt/kvitt.secrets" "# mine"
expect "secrets mode after reinstall" "stat -c '%U:%G %a' /etc/kvitt/kvitt.secrets" "kvitt:kvitt 600"
say "B ok: a reinstall keeps the changed configuration"

in_root "$R" "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q kvitt" >>"$PKG_WORK/deb-install.log" 2>&1 || die "purge"
expect "/etc/kvitt after purge" "ls -d /etc/kvitt 2>/dev/null | wc -l" "0"
expect "journal after purge" "ls /var/lib/kvitt" "journal.db"
say "B ok: purge removes /etc/kvitt and keeps the journal"
