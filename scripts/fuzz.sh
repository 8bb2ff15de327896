#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan+UBSan) into build-fuzz and runs
# each for the given number of seconds (default 60), one after the other, starting from its
# committed seed corpus. Inputs the run finds interesting go to build-fuzz/corpus/<target>
# (not committed); a crash stops the script with the input saved as
# build-fuzz/crashes/<target>/crash-*: fix the bug, then commit that input to
# tests/fuzz/corpus/<target>/ as a regression input.
# Usage: scripts/fuzz.sh [seconds per target] [target names...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
shift || true
build_dir="${SPANLINE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cxx="${SPANLINE_FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}"
if [ -z "$cxx" ]; then
  echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-dev)" >&2
  exit 1
fi
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# Only the library and the targets: no tests, benchmarks or daemon. -O1 with line tables
# keeps the build short and the stack traces readable; asserts stay on.
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
  -DSPANLINE_FUZZ=ON -DSPANLINE_SANITIZE="address;undefined" \
  -DSPANLINE_BUILD_TESTS=OFF -DSPANLINE_BUILD_BENCH=OFF -DSPANLINE_BUILD_AGENT=OFF >/dev/null
cmake --build "$build_dir" --target spanline_fuzzers -j"$(nproc)"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  for dir in tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for target in "${targets[@]}"; do
  work="$build_dir/corpus/$target"
  crashes="$build_dir/crashes/$target"
  log="$build_dir/logs/$target.log"
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  echo "fuzz.sh: fuzz_$target for ${seconds} s (log: $log)"
  # New inputs go to the first (scratch) directory; the committed seeds are only read.
  if ! "$build_dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" \
      "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 80 "$log" >&2
    echo "fuzz.sh: fuzz_$target failed; the input is in $crashes" >&2
    exit 1
  fi
  # The closing status line (executions, coverage, corpus) and the final stats.
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
done
echo "fuzz.sh: ${#targets[@]} targets, ${seconds} s each, no crash"
