#!/usr/bin/env bash
# The same official-SDK program (tests/sdk/log_spans.mjs) direct to the fake API and through
# spanlined, at a given ratio of 429 answers: spans delivered and lost, wall time, and the
# program's flush() time. Needs a build (SPANLINE_BUILD_DIR, default ./build) and
# `npm ci --prefix tests/sdk`.
#
#   bench/sdk_side_by_side.sh [ratio_429=0.2] [traces=1000]     (each trace logs 2 spans)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SPANLINE_BUILD_DIR:-$root/build}"
ratio="${1:-0.2}"
traces="${2:-1000}"
key="sk-side-by-side-0123456789"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) for `pattern` in `file`.
wait_for() {
  for _ in $(seq 100); do
    grep -q "$2" "$1" && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2
  exit 1
}

for mode in direct spanlined; do
  "$build/spanline-fakeapi" --listen 127.0.0.1:0 --api-key "$key" --fail-429 "$ratio" --retry-after 1 \
    >"$work/fake.out" 2>&1 &
  fake_pid=$!
  pids+=("$fake_pid")
  wait_for "$work/fake.out" listening
  api="$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$work/fake.out")"
  api_env=()
  if [ "$mode" = spanlined ]; then
    BRAINTRUST_API_URL="$api" BRAINTRUST_API_KEY="$key" "$build/spanlined" --ingest.uds_path=off \
      --ingest.datagram_path=off --ingest.http_listen=127.0.0.1:0 --admin.listen=off >"$work/sl.out" 2>/dev/null &
    sl_pid=$!
    pids+=("$sl_pid")
    wait_for "$work/sl.out" "spanlined ready"
    api_env=(BRAINTRUST_API_URL="$(sed -n 's/.* http=\([^ ]*\).*/\1/p' "$work/sl.out")")
  fi
  start=$(date +%s%N)
  result="$(cd "$root/tests/sdk" && env SPANS="$traces" PROJECT=side-by-side BRAINTRUST_APP_URL="$api" \
    BRAINTRUST_API_KEY="$key" "${api_env[@]}" node log_spans.mjs 2>"$work/node.err")"
  wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  # spanlined drains on SIGTERM, so what it accepted is upstream when it exits.
  if [ "$mode" = spanlined ]; then kill -TERM "$sl_pid"; wait "$sl_pid" || true; fi
  delivered="$(curl -sS "$api/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unique_rows"])')"
  flush_ms="$(echo "$result" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["flush_ms"]))')"
  spans=$(( 2 * traces ))
  echo "429=$ratio mode=$mode spans=$spans delivered=$delivered lost=$(( spans - delivered )) wall_ms=$wall_ms flush_ms=$flush_ms"
  kill "$fake_pid"
  wait "$fake_pid" 2>/dev/null || true
done
