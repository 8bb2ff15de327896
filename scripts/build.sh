#!/usr/bin/env bash
# Installs dependencies (if missing) and builds everything into ./build.
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/install-deps.sh

build_dir="${SPANLINE_BUILD_DIR:-$root/build}"
build_type="${SPANLINE_BUILD_TYPE:-RelWithDebInfo}"
# ccache, when the machine has it, makes a rebuild of an unchanged tree cheap (as in
# scripts/sanitize.sh and scripts/fuzz.sh); nothing requires it.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root" -B "$build_dir" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
