#!/bin/sh
# make deb: build kvitt_VERSION_ARCH.deb and libkvitt-dev_VERSION_ARCH.deb
# with dpkg-buildpackage from a clean copy of the tree (the files git tracks
# or would track, as they are now: nothing from build/), then run lintian on
# them.  Results in build/deb/.  Lintian's errors and warnings fail the
# build; tags that remain on purpose are overridden in debian/*.lintian-
# overrides with the reason.
set -u
PKG_CHECK=deb
. "$(dirname "$0")/lib.sh"
cd "$pkg_root" || exit 1
version=$(sed -n 's/^VERSION := //p' Makefile)
deb_version=$(dpkg-parsechangelog -S Version)
[ "$version" = "$deb_version" ] || die "Makefile VERSION $version but debian/changelog $deb_version"
stage=$PKG_WORK/src
out=$pkg_root/build/deb
rm -rf "$stage" "$out" && mkdir -p "$stage/kvitt-$version" "$out"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard | while IFS= read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done |
        tar -cf - -T - | tar -xf - -C "$stage/kvitt-$version" || die "copying the tree"
else   # an unpacked source tarball: everything but the build output
    tar -cf - --exclude=./build --exclude=./demo-out . | tar -xf - -C "$stage/kvitt-$version" || die "copying the tree"
fi
say "dpkg-buildpackage -b in $stage/kvitt-$version (log: $out/build.log)"
(cd "$stage/kvitt-$version" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}" dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; die "dpkg-buildpackage failed"; }
mv "$stage"/*.deb "$stage"/*.changes "$stage"/*.buildinfo "$out"/
ls "$out"/*.deb | sed 's/^/  /'
say "lintian"
lintian --fail-on error,warning --display-info "$out"/*.changes >"$out/lintian.log" 2>&1
rc=$?
sed 's/^/  /' "$out/lintian.log"
[ "$rc" -eq 0 ] || die "lintian reports errors or warnings (above)"
say "ok: $(cd "$out" && ls *.deb | tr '\n' ' ')"
