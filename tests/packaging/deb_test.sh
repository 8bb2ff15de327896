#!/usr/bin/env bash
# Builds the Debian packages from BUILD_DIR with cpack (the build type does not change
# their contents; scripts/package.sh makes the Release ones), then checks them: control
# fields, file lists, conffiles, maintainer scripts; the unit verifies against the
# extracted tree (man:spanlined(8) resolves); lintian reports no errors when installed.
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR SOVERSION VERSION
set -euo pipefail
build="$(cd "$1" && pwd)"
source_dir="$(cd "$2" && pwd)"
soversion="$3"
version="$4"
. "$source_dir/tests/packaging/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/spanline-deb-XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  fail "cpack failed: $(tail -20 "$work/cpack.log")"

arch="$(dpkg --print-architecture)"
runtime="libspanline$soversion"
deb() { echo "$work/out/${1}_${version}_${arch}.deb"; }
for package in spanlined "$runtime" libspanline-dev; do
  [ -f "$(deb "$package")" ] || fail "no $(basename "$(deb "$package")"): $(ls "$work/out")"
done

field() { dpkg-deb --field "$(deb "$1")" "$2"; }
contents() { dpkg-deb --contents "$(deb "$1")" | awk '{ print $6 ($7 == "->" ? " -> " $8 : "") }'; }
has_file() { contents "$1" | matches -xF "$2" || fail "$1 lacks $2; it has:
$(contents "$1")"; }

# --- control fields --------------------------------------------------------------
[ "$(field spanlined Version)" = "$version" ] || fail "spanlined version $(field spanlined Version)"
field spanlined Depends | matches 'libc6' || fail "spanlined Depends lacks shared library dependencies: $(field spanlined Depends)"
field "$runtime" Depends | matches 'libzstd' || fail "$runtime Depends lacks libzstd: $(field "$runtime" Depends)"
field libspanline-dev Depends | matches -F "$runtime (= $version)" || fail "libspanline-dev must depend on $runtime (= $version)"
for package in spanlined "$runtime" libspanline-dev; do
  dpkg-deb --info "$(deb "$package")" >/dev/null
  [ -n "$(field "$package" Description)" ] || fail "$package has no description"
  has_file "$package" "./usr/share/doc/$package/copyright"
  has_file "$package" "./usr/share/doc/$package/changelog.gz"
  dpkg-deb --fsys-tarfile "$(deb "$package")" | tar -xO "./usr/share/doc/$package/copyright" |
    matches '^License: Apache-2.0' || fail "$package copyright does not declare Apache-2.0"
done

# --- files -------------------------------------------------------------------------
for file in ./usr/bin/spanlined ./lib/systemd/system/spanlined.service ./etc/spanline/spanlined.toml \
            ./usr/lib/sysusers.d/spanline.conf ./usr/lib/tmpfiles.d/spanline.conf \
            ./usr/share/man/man8/spanlined.8.gz ./usr/share/doc/spanlined/README.Debian \
            ./usr/share/doc/spanlined/sidecar-protocol.md; do
  has_file spanlined "$file"
done
# /usr/lib/<triplet> when configured with --prefix /usr (scripts/package.sh), else /usr/lib.
libdir="$(contents "$runtime" | sed -n "s|^\(\./usr/lib[^ ]*\)/libspanline\.so\.$version\$|\1|p" | head -1)"
[ -n "$libdir" ] || fail "$runtime has no libspanline.so.$version under /usr/lib: $(contents "$runtime")"
has_file "$runtime" "$libdir/libspanline.so.$soversion -> libspanline.so.$version"
has_file libspanline-dev "$libdir/libspanline.so -> libspanline.so.$soversion"
for file in ./usr/include/spanline/spanline.hpp ./usr/include/spanline/export.hpp \
            ./usr/include/spanline/version.hpp "$libdir/pkgconfig/spanline.pc" \
            "$libdir/cmake/spanline/spanlineConfig.cmake" "$libdir/cmake/spanline/spanlineTargets.cmake"; do
  has_file libspanline-dev "$file"
done
if contents "$runtime" | matches '\.a$\|include/'; then fail "$runtime carries development files"; fi

dpkg-deb --ctrl-tarfile "$(deb spanlined)" | tar -xO ./conffiles | matches -xF /etc/spanline/spanlined.toml ||
  fail "/etc/spanline/spanlined.toml is not a conffile"
for script in postinst prerm postrm; do
  dpkg-deb --ctrl-tarfile "$(deb spanlined)" | tar -tv "./$script" | matches '^-rwxr-xr-x' ||
    fail "spanlined has no executable $script"
done
dpkg-deb --ctrl-tarfile "$(deb "$runtime")" | tar -xO ./triggers | matches -x 'activate-noawait ldconfig' ||
  fail "$runtime has no ldconfig trigger"
dpkg-deb --ctrl-tarfile "$(deb "$runtime")" | tar -xO ./shlibs | matches -F "libspanline $soversion $runtime (= $version)" ||
  fail "$runtime has no shlibs entry"

# --- the unit in the unpacked tree -------------------------------------------------
root="$work/root"
for package in spanlined "$runtime"; do dpkg-deb --extract "$(deb "$package")" "$root"; done
readelf -S "$root/usr/bin/spanlined" | matches '\.debug_' && fail "the packaged spanlined carries debug info"
readelf -S "$root/$libdir/libspanline.so.$version" | matches '\.debug_' &&
  fail "the packaged libspanline carries debug info"
if command -v systemd-analyze >/dev/null; then
  # The unit's dependencies (sysinit.target, ...) come from the host's systemd, next to
  # the packaged unit; ExecStart must exist in the unpacked tree, and the man page must be
  # found there for Documentation=man:spanlined(8) to verify.
  if [ -d /lib/systemd/system ]; then cp -rn /lib/systemd/system/. "$root/lib/systemd/system/" 2>/dev/null || true; fi
  if ! MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" --man=yes \
       "$root/lib/systemd/system/spanlined.service" >"$work/verify.log" 2>&1; then
    fail "systemd-analyze verify: $(cat "$work/verify.log")"
  fi
  if [ -s "$work/verify.log" ]; then echo "systemd-analyze verify said:"; cat "$work/verify.log"; fi
else
  echo "systemd-analyze not installed: the unit was not verified"
fi

# --- lintian -------------------------------------------------------------------------
if command -v lintian >/dev/null; then
  for package in spanlined "$runtime" libspanline-dev; do
    lintian --no-tag-display-limit "$(deb "$package")" >"$work/lintian.log" 2>&1 || true
    if grep -q '^E: ' "$work/lintian.log"; then fail "lintian errors in $package:
$(grep '^E: ' "$work/lintian.log")"; fi
    grep '^W: ' "$work/lintian.log" || true
  done
else
  echo "lintian not installed: packages not linted"
fi
echo "Debian packages OK: $(cd "$work/out" && ls ./*.deb | tr '\n' ' ')"
