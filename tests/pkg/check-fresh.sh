#!/bin/sh
# make check-fresh: a newcomer's first `make demo` and `make test` on a fresh
# Debian machine, from a fresh clone of this repository (its HEAD).
#
# In a minimal root (debootstrap minbase + make, git, certificates; see
# lib.sh) when this machine can make one (root, debootstrap):
#   1. as a normal user without sudo, `make demo` fails with the one
#      `sudo apt-get install` line, which names the build packages and not
#      clang;
#   2. as root, `make demo` installs the build packages (apt's progress
#      lines), builds and takes a payment: "kvitt pay exited with 0";
#      clang, cmocka and the test packages are still not installed;
#   3. `make test` (KVITT_FRESH_TESTS suites, default test_cli test_man)
#      then installs the test packages and passes.
# Otherwise (no debootstrap, or KVITT_FRESH_MODE=local), as root on this
# machine: some build packages are removed (KVITT_FRESH_REMOVE), `make demo`
# runs in a fresh clone, and every removed package is installed again (also
# when the check fails).  Not root: skipped.
set -u
PKG_CHECK=check-fresh
. "$(dirname "$0")/lib.sh"
suites=${KVITT_FRESH_TESTS:-test_cli test_man}

check_demo_output() {
    grep -q '^demo: kvitt pay exited with 0 ' "$1" || { tail -n 30 "$1" >&2; die "make demo did not take the payment (log: $1)"; }
    grep -q '^kvitt: apt-get install' "$1" || die "make demo installed nothing (was the root not fresh?)"
}

in_a_root() {
    R=$PKG_WORK/fresh-root
    trap 'drop_root "$R"' EXIT INT TERM
    make_root "$R" || die "cannot make a minimal root"
    git clone -q "$pkg_root" "$R/home/newcomer/kvitt" || die "git clone"
    in_root "$R" "useradd -M -d /home/newcomer newcomer && chown -R newcomer: /home/newcomer" || die "useradd"

    say "1. make demo as a normal user (no sudo)"
    log=$PKG_WORK/fresh-user.log
    if chroot --userspec=newcomer:newcomer "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/home/newcomer \
        /bin/sh -c 'cd ~/kvitt && make demo' >"$log" 2>&1; then
        die "make demo as a user without the packages succeeded?"
    fi
    line=$(grep '^  sudo apt-get install' "$log") || { cat "$log" >&2; die "no sudo apt-get line"; }
    say "   prints:$line"
    case " $line " in *" libusb-1.0-0-dev "*) ;; *) die "the sudo line lacks libusb-1.0-0-dev" ;; esac
    case " $line " in *" clang "*|*" libcmocka-dev "*) die "the sudo line asks for test/fuzz packages" ;; esac

    say "2. make demo as root (installs the build packages; apt's output follows)"
    log=$PKG_WORK/fresh-demo.log
    in_root "$R" "cd /home/newcomer/kvitt && make demo" 2>&1 | tee "$log" | grep -E '^(kvitt|demo):|^(Get|Setting up) ' | \
        awk '/^Get:/{g++; if (g % 25 == 1) print "   " $0; next} /^Setting up/{s++; if (s % 25 == 1) print "   " $0; next} {print "   " $0}'
    check_demo_output "$log"
    for p in clang libcmocka-dev chromium; do
        if in_root "$R" "dpkg-query -W -f='\${Status}' $p 2>/dev/null | grep -q 'ok installed'"; then
            die "make demo installed $p, which only make test or make fuzz needs"
        fi
    done
    say "   paid; clang, cmocka and chromium are not installed"

    say "3. make test (KVITT_TESTS=\"$suites\"; installs the test packages)"
    log=$PKG_WORK/fresh-test.log
    in_root "$R" "cd /home/newcomer/kvitt && KVITT_TESTS='$suites' make test" >"$log" 2>&1
    rc=$?
    grep -E '^(plain|sanitizers): ' "$log" | sed 's/^/   /'
    [ "$rc" -eq 0 ] || { tail -n 40 "$log" >&2; die "make test failed (exit $rc; log: $log)"; }
    tail -n1 "$log" | grep -Eq '^sanitizers: [1-9][0-9]* passed, 0 failed' || die "make test's last line: $(tail -n1 "$log")"
    say "ok: make demo then make test work in a fresh minimal root"
}

on_this_machine() {
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: check-fresh needs root"; exit 0; }
    # Build packages whose removal takes nothing else along on a typical
    # development machine; everything apt would remove with them is
    # installed again afterwards anyway.
    remove=${KVITT_FRESH_REMOVE:-libusb-1.0-0-dev libcjson-dev libmicrohttpd-dev libqrencode-dev libsqlite3-dev}
    removed=$(apt-get -s remove $remove | awk '/^Remv /{print $2}' | tr '\n' ' ')
    [ -n "$removed" ] || die "none of $remove is installed"
    restore() {
        say "installing again: $removed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $removed >"$PKG_WORK/fresh-restore.log" 2>&1 ||
            { tail -n 20 "$PKG_WORK/fresh-restore.log" >&2; echo "check-fresh: could not install again: $removed" >&2; }
    }
    trap restore EXIT INT TERM
    say "removing: $removed"
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -q $removed >"$PKG_WORK/fresh-remove.log" 2>&1 || die "apt-get remove"
    clone=$PKG_WORK/fresh-clone
    rm -rf "$clone" && git clone -q "$pkg_root" "$clone" || die "git clone"
    log=$PKG_WORK/fresh-demo.log
    (cd "$clone" && make demo) >"$log" 2>&1
    check_demo_output "$log"
    say "ok: make demo in a fresh clone after removing $removed"
}

if can_make_root && [ "${KVITT_FRESH_MODE:-root}" = root ]; then
    in_a_root
else
    on_this_machine
fi
