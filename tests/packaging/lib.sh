# Helpers shared by the packaging tests (sourced).

fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for_line FILE REGEX SECONDS: polls FILE until a line matches or the deadline passes.
wait_for_line() {
  local file="$1" pattern="$2" deadline=$((SECONDS + $3))
  until grep -Eq "$pattern" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

# start_fake_api BUILD_DIR WORK_DIR API_KEY: starts spanline-fakeapi on a free loopback
# port, sets FAKE_PID and FAKE_URL. The caller's EXIT trap must call stop_fake_api.
start_fake_api() {
  "$1/spanline-fakeapi" --listen 127.0.0.1:0 --api-key "$3" >"$2/fakeapi.out" 2>"$2/fakeapi.err" &
  FAKE_PID=$!
  wait_for_line "$2/fakeapi.out" '^listening on http://' 30 || fail "the fake API did not start: $(cat "$2/fakeapi.err")"
  FAKE_URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$2/fakeapi.out" | head -1)"
}

stop_fake_api() {
  if [ -n "${FAKE_PID:-}" ]; then
    kill "$FAKE_PID" 2>/dev/null || true
    wait "$FAKE_PID" 2>/dev/null || true
    FAKE_PID=""
  fi
}

# fake_unique_rows: rows the fake API holds, by distinct id.
fake_unique_rows() {
  curl -fsS "$FAKE_URL/_fake/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unique_rows"])'
}

# producer | matches GREP_ARGS...: like grep -q, but reads all of its input first. Under
# `set -o pipefail`, grep -q exits at the first match and the producer (tar, dpkg-deb,
# readelf) then dies of SIGPIPE, failing the pipeline whenever its output outgrows the
# pipe buffer.
matches() {
  local text
  text="$(cat)"
  grep "$@" <<<"$text" >/dev/null
}
