#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once, runs the whole
# suite in parallel. Long soak runs carry the "soak" label and are skipped unless
# SPANLINE_SOAK=1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# scripts/test.sh --sanitize address,undefined | thread [core | regex]: the suite built with sanitizers
# into its own folder (scripts/sanitize.sh), instead of the normal run below.
if [ "${1:-}" = "--sanitize" ]; then exec scripts/sanitize.sh "${2:?--sanitize needs address,undefined or thread}" "${@:3}"; fi

scripts/build.sh
# The OTLP end-to-end test runs the official OpenTelemetry JS SDK, pinned by tests/otel's lockfile.
tests/otel/install.sh

# The official Braintrust SDK, pinned by tests/sdk/package-lock.json, for the SDK end-to-end
# tests (tests/agent/sdk_e2e_test.cpp). Without node they skip locally; in CI they must run.
if command -v npm >/dev/null 2>&1 && npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error; then
  export SPANLINE_REQUIRE_SDK=1
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: installing the pinned Braintrust SDK failed (npm ci --prefix tests/sdk); required in CI" >&2
  exit 1
else
  echo "test.sh: node/npm unavailable or npm ci failed; the SDK end-to-end tests will skip" >&2
fi

build_dir="${SPANLINE_BUILD_DIR:-$root/build}"
label_args=(-LE soak)
if [ "${SPANLINE_SOAK:-0}" = "1" ]; then label_args=(); fi

# Tests are mostly waiting on loopback I/O, so a little more parallelism than cores pays.
suite=(ctest --test-dir "$build_dir" --output-on-failure -j"$(( $(nproc) + 1 ))" "${label_args[@]}")
"${suite[@]}"

# A second pass as if the machine had booted 30 s ago: steady_clock counts from boot, so
# code that takes a default time_point for "long ago" only fails on fresh machines. A
# Linux time namespace shifts CLOCK_MONOTONIC and CLOCK_BOOTTIME for the suite alone.
uptime_s="$(cut -d. -f1 /proc/uptime)"
shift_s=$(( 30 - uptime_s ))
just_booted=(unshare --time --fork --monotonic="$shift_s" --boottime="$shift_s")
if ! "${just_booted[@]}" true 2>/dev/null; then
  just_booted=(unshare --user --map-root-user --time --fork --monotonic="$shift_s" --boottime="$shift_s")
fi
if "${just_booted[@]}" true 2>/dev/null; then
  echo "test.sh: second pass with 30 s of uptime (time namespace)"
  "${just_booted[@]}" "${suite[@]}"
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: time namespaces are unavailable here (unshare --time), required in CI" >&2
  exit 1
else
  echo "test.sh: time namespaces are unavailable here (unshare --time); skipped the just-booted pass" >&2
fi

# CI also runs every fuzz target briefly (tests/fuzz, scripts/fuzz.sh), then the whole
# suite under ASan+UBSan (scripts/sanitize.sh; why the whole suite fits and TSan is left
# out: docs/fuzzing-and-sanitizers.md). A sanitizer report fails CI and is printed.
if [ "${CI:-}" = "true" ]; then
  scripts/fuzz.sh 30
  scripts/sanitize.sh address,undefined
fi
