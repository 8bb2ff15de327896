#!/usr/bin/env bash
# Installs the library (components libspanline<N> and libspanline-dev) into a temporary
# prefix, checks what the shared library exports, then builds examples/cpp against it
# twice, with find_package(spanline) and with pkg-config, and runs both against the fake
# API: each must deliver its span and child span.
# Usage: install_consumer_test.sh BUILD_DIR SOURCE_DIR SOVERSION VERSION
set -euo pipefail
build="$(cd "$1" && pwd)"
source_dir="$(cd "$2" && pwd)"
soversion="$3"
version="$4"
. "$source_dir/tests/packaging/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/spanline-install-XXXXXX")"
trap 'stop_fake_api; rm -rf "$work"' EXIT
prefix="$work/prefix"

for component in "libspanline$soversion" libspanline-dev; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >/dev/null
done

# --- what is installed -------------------------------------------------------
libdir="$(dirname "$(find "$prefix" -name 'libspanline.so' -print -quit)")"
[ -d "$libdir" ] || fail "no libspanline.so installed: $(cd "$prefix" && find . -type f)"
real_lib="$(readlink -f "$libdir/libspanline.so")"
readelf -d "$real_lib" | matches "SONAME.*\[libspanline.so.$soversion\]" ||
  fail "SONAME is not libspanline.so.$soversion: $(readelf -d "$real_lib" | grep SONAME)"
[ -e "$libdir/libspanline.so.$soversion" ] || fail "no libspanline.so.$soversion link"
if readelf -S "$real_lib" | matches '\.debug_'; then fail "the installed library carries debug info"; fi
[ ! -e "$libdir/libspanline.a" ] || fail "the static library is installed next to the shared one"

exports="$(nm -D --defined-only -C "$real_lib")"
if grep -q 'spanline::detail::' <<<"$exports"; then
  fail "libspanline.so exports internals: $(grep 'spanline::detail::' <<<"$exports" | head -5)"
fi
# Everything exported is spanline's public API (no Boost, simdjson, or std instantiations).
unexpected="$(awk '$2 ~ /^[TWVBDRu]$/ { $1 = ""; $2 = ""; print }' <<<"$exports" |
  grep -v '^  *spanline::' | grep -v '^  *\(typeinfo\|typeinfo name\|vtable\) for spanline::' |
  grep -v '^  *_\(init\|fini\|edata\|end\|_bss_start\)$' || true)"
[ -z "$unexpected" ] || fail "libspanline.so exports non-spanline symbols: $(head -5 <<<"$unexpected")"
for symbol in 'spanline::Logger::Logger(spanline::Options)' 'spanline::Span::end(spanline::Fields const&)' \
              'spanline::Fields::string(' 'spanline::options_from_env('; do
  grep -qF "$symbol" <<<"$exports" || fail "libspanline.so does not export $symbol"
done

# The daemon's side (spanline::sidecar: prepared rows, durable write-ahead, the NDJSON
# ingest stage) stays out of the application library and its headers.
if grep -qE 'log_prepared|log_durable|notify_when_room|PreparedRow|spanline::sidecar::' <<<"$exports"; then
  fail "libspanline.so exports daemon-only API: $(grep -E 'log_prepared|log_durable|notify_when_room|PreparedRow|spanline::sidecar::' <<<"$exports" | head -3)"
fi
if nm -C "$real_lib" | matches 'spanline::detail::EventParser'; then
  fail "the sidecar's NDJSON ingest stage (src/ingest) is compiled into libspanline.so"
fi
[ ! -e "$prefix/include/spanline/sidecar" ] || fail "the daemon's headers (spanline/sidecar) are installed"

config_dir="$(dirname "$(find "$prefix" -name spanlineConfig.cmake -print -quit)")"
if grep -rq 'spanline_deps\|/usr/include' "$config_dir"; then
  fail "the CMake package exposes internal targets or this machine's paths: $(grep -rn 'spanline_deps\|/usr/include' "$config_dir" | head -3)"
fi
[ -f "$prefix/include/spanline/version.hpp" ] || fail "spanline/version.hpp is not installed"

# --- consumers -----------------------------------------------------------------
cmake -S "$source_dir/examples/cpp" -B "$work/cmake-consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="-Wall -Wextra -Werror" >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null

export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion spanline)" = "$version" ] ||
  fail "spanline.pc has version $(pkg-config --modversion spanline)"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
${CXX:-c++} -std=c++20 -Wall -Wextra -Werror -o "$work/pkgconfig-consumer" "$source_dir/examples/cpp/main.cpp" \
  $(pkg-config --cflags --libs spanline)

api_key="sk-install-test-0123456789"
start_fake_api "$build" "$work" "$api_key"
expected_rows=0
for consumer in "$work/cmake-consumer/spanline-example" "$work/pkgconfig-consumer"; do
  LD_LIBRARY_PATH="$libdir" ldd "$consumer" | matches "libspanline.so.$soversion => $libdir/" ||
    fail "$consumer does not load the installed library: $(LD_LIBRARY_PATH="$libdir" ldd "$consumer")"
  env -u SPANLINE_SPOOL_DIR LD_LIBRARY_PATH="$libdir" BRAINTRUST_API_URL="$FAKE_URL" BRAINTRUST_API_KEY="$api_key" \
    "$consumer" >"$work/consumer.out" 2>&1 || fail "$consumer failed: $(cat "$work/consumer.out")"
  expected_rows=$((expected_rows + 2))  # the span and its child
  [ "$(fake_unique_rows)" = "$expected_rows" ] ||
    fail "the fake API holds $(fake_unique_rows) rows after $consumer, expected $expected_rows"
done
echo "install and consumers OK ($(wc -l <<<"$exports") exported symbols)"
