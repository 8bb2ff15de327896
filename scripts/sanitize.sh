#!/usr/bin/env bash
# The test suite under sanitizers, each kind in its own build folder:
#   scripts/sanitize.sh address,undefined [core | ctest -R regex]   -> build-asan
#   scripts/sanitize.sh thread            [core | ctest -R regex]   -> build-tsan
# (also reached as scripts/test.sh --sanitize <kind>). The build is cut to what the suite
# needs so that it fits CI: -O1 without debug info (reports still name every function;
# the frame pointers give whole stacks), only the targets the tests run (spanline_tests,
# which brings spanlined, and spanline-fakeapi): no micro benchmarks, examples, shared
# library or fuzz targets, and so no packaging tests either. ccache when present.
# Every sanitizer report, from the test binary or from a daemon or fake API it starts,
# fails the run and is printed at the end; a report also fails the test that hit it.
# The optional regex (or the named subset "core") runs only the tests it matches; the
# build is the same.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

kind="${1:?usage: scripts/sanitize.sh address,undefined|thread [core | ctest -R regex]}"
subset="${2:-}"
# "core": the named subset for when the whole suite does not fit: the pipeline (queue,
# admission, batching, encoding, sending), the ingest parsers, the daemon and the spool.
if [ "$subset" = "core" ]; then
  subset='^(RowQueue|ProducerGate|AsymmetricFence|MemoryBudget|Admission|Batcher|Batch|Coalescer|Encoder|LoggerE2E|Ingest[A-Za-z]*|Sender[A-Za-z]*|RequestBody|Daemon[A-Za-z]*|Spool[A-Za-z]*)\.'
fi
case "$kind" in
  address,undefined | undefined,address) sanitizers="address;undefined"; default_dir="$root/build-asan" ;;
  thread) sanitizers="thread"; default_dir="$root/build-tsan" ;;
  *) echo "sanitize.sh: unknown sanitizer set '$kind' (address,undefined or thread)" >&2; exit 2 ;;
esac
build_dir="${SPANLINE_SANITIZE_BUILD_DIR:-$default_dir}"
jobs="${SPANLINE_SANITIZE_JOBS:-$(nproc)}"

scripts/install-deps.sh
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root" -B "$build_dir" -G Ninja "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DSPANLINE_SANITIZE="$sanitizers" -DSPANLINE_BUILD_SHARED=OFF -DSPANLINE_BUILD_EXAMPLES=OFF >/dev/null
# Wall and CPU time of each step: on a shared machine the CPU seconds are what carries over.
TIMEFORMAT="sanitize.sh: %R s wall, %U s user + %S s sys CPU"
time cmake --build "$build_dir" --target spanline_tests spanline-fakeapi -j"$jobs"

# Each process writes its reports to reports/<kind>.<pid>: that also catches a report in
# a spanlined or fake API child whose stderr only its test reads. halt_on_error: the
# first report ends the process. Suppressions only ever name third-party code, each with
# its reason (tests/tsan.supp).
reports="$build_dir/reports"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}:log_path=$reports/asan:log_exe_name=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$reports/ubsan:log_exe_name=1"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp}:log_path=$reports/tsan:log_exe_name=1"
filter=()
if [ -n "$subset" ]; then filter=(-R "$subset"); fi
status=0
time ctest --test-dir "$build_dir" --output-on-failure -j"$(( jobs + 1 ))" -LE soak "${filter[@]}" || status=$?

shopt -s nullglob
found=("$reports"/*)
if [ "${#found[@]}" -gt 0 ]; then
  echo "sanitize.sh: ${#found[@]} sanitizer report file(s):" >&2
  for file in "${found[@]}"; do echo "==== $file" >&2; cat "$file" >&2; done
  exit 1
fi
if [ "$status" -ne 0 ]; then echo "sanitize.sh: the $kind suite failed (ctest exit $status)" >&2; fi
exit "$status"
