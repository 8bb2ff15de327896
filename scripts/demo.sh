#!/usr/bin/env bash
# The README's main command: builds spanline, starts the fake Braintrust API and the
# spanlined sidecar, sends sample LLM spans through the Unix socket (NDJSON) and the HTTP
# ingest (curl, Braintrust insert API shape), stops spanlined with SIGTERM, prints what
# the fake API received and exits non-zero if any row was lost.
#
# Environment: SPANLINE_BUILD_DIR (default ./build), SPANLINE_DEMO_SKIP_BUILD=1 to reuse a build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SPANLINE_BUILD_DIR:-$root/build}"

if [ "${SPANLINE_DEMO_SKIP_BUILD:-0}" != "1" ]; then
  SPANLINE_BUILD_DIR="$build_dir" scripts/build.sh
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/spanline-demo.XXXXXX")"
fake_pid=""
daemon_pid=""
cleanup() {
  # Only the processes this script started, by pid.
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then kill -TERM "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [ -n "$fake_pid" ] && kill -0 "$fake_pid" 2>/dev/null; then kill -TERM "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until `command` succeeds, up to `seconds`; polls, no fixed sleep.
wait_for() {
  local seconds="$1"; shift
  local deadline=$(( $(date +%s) + seconds ))
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 0.05
  done
}

echo "== starting the fake Braintrust API"
"$build_dir/spanline-fakeapi" --listen 127.0.0.1:0 --api-key demo-key >"$work/fakeapi.out" 2>"$work/fakeapi.err" &
fake_pid=$!
wait_for 30 grep -q "listening on" "$work/fakeapi.out" || { cat "$work/fakeapi.err" >&2; echo "fake API did not start" >&2; exit 1; }
api_url="$(sed -n 's/^listening on \(http[^ ]*\).*/\1/p' "$work/fakeapi.out" | head -n1)"
echo "   $api_url"

echo "== starting spanlined"
BRAINTRUST_API_URL="$api_url" BRAINTRUST_API_KEY="demo-key" \
  "$build_dir/spanlined" \
  --ingest.uds_path="$work/spanlined.sock" \
  --ingest.datagram_path=off \
  --ingest.http_listen=127.0.0.1:0 \
  --admin.listen=127.0.0.1:0 \
  --destination.project_name="spanline demo" \
  >"$work/spanlined.out" 2>"$work/spanlined.err" &
daemon_pid=$!
wait_for 30 grep -q "^spanlined ready:" "$work/spanlined.out" || { cat "$work/spanlined.err" >&2; echo "spanlined did not start" >&2; exit 1; }
ready="$(grep "^spanlined ready:" "$work/spanlined.out")"
echo "   $ready"
http_url="$(echo "$ready" | sed -n 's/.* http=\([^ ]*\).*/\1/p')"
admin_url="$(echo "$ready" | sed -n 's/.* admin=\([^ ]*\).*/\1/p')"

echo "== sending spans through the Unix socket"
python3 - "$work/spanlined.sock" "$work/sent_ids" <<'PY'
import json, random, socket, sys, time, uuid

path, ids_file = sys.argv[1], sys.argv[2]
random.seed(7)
questions = ["What is the capital of France?", "Summarize this support ticket.", "Translate 'good morning' to Spanish.",
             "Write a haiku about latency.", "Classify the sentiment: 'the update broke my workflow'."]
answers = ["Paris.", "Customer cannot log in after the password reset.", "Buenos días.",
           "Packets drift like leaves / the queue holds what the wire can't / acks return at dawn", "negative"]
lines, ids = [], []
now = time.time()
for i in range(30):
    root = uuid.uuid4().hex
    q = i % len(questions)
    row = {
        "id": str(uuid.uuid4()),
        "span_id": root, "root_span_id": root,
        "span_attributes": {"name": "chat.completion", "type": "llm"},
        "input": [{"role": "user", "content": questions[q]}],
        "metadata": {"model": random.choice(["gpt-4o-mini", "claude-3-5-haiku"]), "temperature": 0.2},
        "metrics": {"start": now + i, "prompt_tokens": random.randint(20, 400)},
    }
    if i % 6 == 1:
        row["experiment_id"] = "demo-experiment"   # routed to an experiment, key stripped
    elif i % 6 == 2:
        row["dataset_id"] = "demo-dataset"
        row["expected"] = answers[q]
    lines.append(row)
    ids.append(row["id"])
    # The answer arrives later as a merge update of the same row (Braintrust span semantics).
    if i % 3 == 0:
        update = {"id": row["id"], "_is_merge": True, "output": answers[q],
                  "metrics": {"end": now + i + 0.8, "completion_tokens": random.randint(5, 200)},
                  "scores": {"helpfulness": round(random.random(), 2)}}
        for key in ("experiment_id", "dataset_id"):
            if key in row:
                update[key] = row[key]
        lines.append(update)
# A few rows without ids: spanlined adds them.
for i in range(4):
    lines.append({"input": f"background job {i}", "output": "done", "tags": ["batch"]})
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
sock.sendall(("\n".join(json.dumps(l, separators=(",", ":")) for l in lines) + "\n").encode())
sock.close()
with open(ids_file, "w") as f:
    f.write("\n".join(ids) + "\n")
print(f"   {len(lines)} lines ({len(ids)} spans with ids, {len(lines) - len(ids) - 4} merge updates, 4 without ids)")
PY

echo "== sending spans through the HTTP ingest (Braintrust insert API) with curl"
echo "   (authenticated with the daemon's API key as a bearer token; see docs/authentication.md)"
body='{"events":['
for i in $(seq 1 10); do
  [ "$i" -gt 1 ] && body+=','
  body+="{\"id\":\"http-span-$i\",\"input\":{\"prompt\":\"request $i\"},\"output\":{\"completion\":\"reply $i\"},\"scores\":{\"accuracy\":0.$i},\"metrics\":{\"tokens\":$((i * 17))}}"
done
body+=']}'
curl -sS --fail-with-body -X POST "$http_url/v1/project_logs/demo-project/insert" \
  -H 'Authorization: Bearer demo-key' -H 'Content-Type: application/json' --data "$body"
echo
echo "== a bad request is refused whole, naming the event"
curl -sS -X POST "$http_url/v1/project_logs/demo-project/insert" \
  -H 'Authorization: Bearer demo-key' -H 'Content-Type: application/json' \
  --data '{"events":[{"id":"fine"},[1,2]]}' || true
echo
echo "== a request without credentials is refused"
curl -sS -X POST "$http_url/v1/project_logs/demo-project/insert" \
  -H 'Content-Type: application/json' --data '{"events":[{"id":"unauthenticated"}]}' || true
echo

expected=$(( $(wc -l <"$work/sent_ids") + 4 + 10 ))
stats() { curl -sS "$api_url/_fake/stats"; }
unique_rows() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["unique_rows"])'; }
delivered_all() { [ "$(unique_rows)" -ge "$expected" ]; }
echo "== waiting for $expected rows to reach the fake API"
wait_for 60 delivered_all || echo "   (not all rows arrived in time)"

echo "== spanlined metrics (excerpt)"
curl -sS "$admin_url/metrics" | grep -E '^spanline_(rows_in|rows_delivered|bytes_raw|bytes_compressed|batches_sent)_total |^spanline_ingest_(events|invalid)_total\{listener="(uds|http)"' | grep -v ' 0$' | sed 's/^/   /'

echo "== stopping spanlined (SIGTERM)"
kill -TERM "$daemon_pid"
daemon_rc=0
wait "$daemon_pid" || daemon_rc=$?
daemon_pid=""
grep "^spanlined stopped:" "$work/spanlined.out" | sed 's/^/   /'

echo "== what the fake API received (GET /_fake/stats)"
stats | python3 -m json.tool
received="$(unique_rows)"
kill -TERM "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
fake_pid=""

if [ "$daemon_rc" -ne 0 ]; then echo "FAIL: spanlined exited with $daemon_rc" >&2; cat "$work/spanlined.err" >&2; exit 1; fi
if [ "$received" -lt "$expected" ]; then
  echo "FAIL: $received of $expected rows arrived" >&2
  cat "$work/spanlined.err" >&2
  exit 1
fi
echo "OK: all $expected rows arrived exactly once ($received unique rows at the fake API)"
