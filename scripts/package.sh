#!/usr/bin/env bash
# Builds the Debian packages (Release, installed under /usr) with CPack:
#   spanlined_<version>_<arch>.deb        the daemon, its unit, config, man page
#   libspanline<N>_<version>_<arch>.deb    the shared library
#   libspanline-dev_<version>_<arch>.deb   headers, CMake package, pkg-config file
# into $SPANLINE_PACKAGE_DIR (default build-package/packages). docs/packaging.md says
# what is in them and how they are checked.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SPANLINE_PACKAGE_BUILD_DIR:-$root/build-package}"
out="${SPANLINE_PACKAGE_DIR:-$build/packages}"

"$root/scripts/install-deps.sh"

# Debian's hardening flags (fortify, stack protector, relro, bindnow: what lintian looks
# for), without their -g: Release ships no debug info (cpack strips the binaries too).
export DEB_BUILD_MAINT_OPTIONS="hardening=+all"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
cxxflags="$(sed -e 's/\(^\| \)-g\( \|$\)/ /g' <<<"$cxxflags")"
ldflags="$(dpkg-buildflags --get LDFLAGS)"
# The tests and benchmarks are not packaged, so they are not built.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
  -DSPANLINE_BUILD_TESTS=OFF -DSPANLINE_BUILD_BENCH=OFF -DSPANLINE_BUILD_EXAMPLES=OFF \
  -DSPANLINE_BUILD_SHARED=ON -DSPANLINE_BUILD_AGENT=ON
cmake --build "$build" -j"$(nproc)"
mkdir -p "$out"
(cd "$build" && cpack --config "$build/CPackConfig.cmake" -B "$out")
rm -rf "$out/_CPack_Packages"
echo "package.sh: packages in $out:"
ls -1 "$out"/*.deb
