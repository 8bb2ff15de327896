#!/usr/bin/env bash
# The README's test command: installs dependencies, builds once, runs the whole
# suite in parallel. Long soak runs carry the "soak" label and are skipped unless
# SPANLINE_SOAK=1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/build.sh

build_dir="${SPANLINE_BUILD_DIR:-$root/build}"
label_args=(-LE soak)
if [ "${SPANLINE_SOAK:-0}" = "1" ]; then label_args=(); fi

# Tests are mostly waiting on loopback I/O, so a little more parallelism than cores pays.
ctest --test-dir "$build_dir" --output-on-failure -j"$(( $(nproc) + 1 ))" "${label_args[@]}"
