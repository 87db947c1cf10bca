# tests/pkg/lib.sh - shared by the packaging checks (sourced, not run).
# A throwaway Debian root: debootstrap --variant=minbase of the machine's own
# release from its configured Debian mirror, plus make, git and certificates
# (what a newcomer starts with).  The pristine root is made once per run in
# $PKG_WORK/pristine and copied for each check.
pkg_root=$(cd "$(dirname "$0")/../.." && pwd)
PKG_WORK=${PKG_WORK:-$pkg_root/build/pkg}
mkdir -p "$PKG_WORK"

pkg_t0=$(date +%s)
say() { echo "${PKG_CHECK:-pkg}: [$(( $(date +%s) - pkg_t0 ))s] $*"; }
die() { echo "${PKG_CHECK:-pkg}: FAIL: $*" >&2; exit 1; }

# The Debian mirror and release of this machine (deb822 or one-line sources).
pkg_mirror() {
    m=$(sed -n 's#^URIs: *\(https\{0,1\}://[^ ]*/debian\)/\{0,1\} *$#\1#p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    [ -n "$m" ] || m=$(sed -n 's#^deb \(https\{0,1\}://[^ ]*/debian\)/\{0,1\} .*#\1#p' /etc/apt/sources.list 2>/dev/null | head -n1)
    echo "${m:-http://deb.debian.org/debian}"
}
pkg_suite() { . /etc/os-release && echo "${VERSION_CODENAME:-bookworm}"; }

# Can this machine make a root?  (root, debootstrap, chroot and mount work)
can_make_root() {
    [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null 2>&1
}

# make_root DIR: a fresh copy of the pristine minimal root in DIR.
make_root() {
    pristine=$PKG_WORK/pristine
    if [ ! -f "$pristine/.kvitt-ok" ]; then
        rm -rf --one-file-system "$pristine"
        say "debootstrap --variant=minbase $(pkg_suite) from $(pkg_mirror) (about a minute; log: $PKG_WORK/debootstrap.log)"
        debootstrap --variant=minbase --include=make,git,ca-certificates \
            "$(pkg_suite)" "$pristine" "$(pkg_mirror)" >"$PKG_WORK/debootstrap.log" 2>&1 ||
            { tail -n 20 "$PKG_WORK/debootstrap.log" >&2; return 1; }
        touch "$pristine/.kvitt-ok"
    fi
    rm -rf --one-file-system "$1"
    cp -a "$pristine" "$1"
    cp /etc/resolv.conf "$1/etc/resolv.conf" 2>/dev/null || true
    mount -t proc proc "$1/proc"
}

# drop_root DIR: unmount and delete a root made by make_root.
drop_root() {
    [ -d "$1" ] || return 0
    if mountpoint -q "$1/proc" 2>/dev/null; then umount "$1/proc" || umount -l "$1/proc"; fi
    mountpoint -q "$1/proc" 2>/dev/null && { echo "cannot unmount $1/proc; left $1" >&2; return 1; }
    rm -rf --one-file-system "$1"
}

# in_root DIR CMD: run a shell command line as root inside DIR.
in_root() {
    r=$1; shift
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 /bin/sh -c "$*"
}
