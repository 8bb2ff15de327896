#pragma once
// A fake Braintrust API: an Asio/Beast HTTP/1.1 server (optionally HTTPS) that
// implements the endpoints spanline uses with the real request and response
// shapes, applies Braintrust merge/delete semantics to what it stores, counts
// everything it receives and injects deterministic faults. Tests embed it; the
// `spanline-fakeapi` binary wraps it for the load harness and the demo.
//
// Endpoints: POST/GET /v1/project, GET /v1/project/{id},
// POST /v1/{project_logs|experiment|dataset}/{id}/{insert|fetch|feedback},
// GET /version, and the unauthenticated control endpoints GET /_fake/stats,
// POST /_fake/reset, GET|POST /_fake/faults.
//
// Insert, fetch and feedback accept any object id (no need to create the
// project first), so load runs can target made-up ids.

#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::fakeapi {

// Fault injection for /v1/* and /version (never /_fake/*). One seeded PRNG draw
// per request decides, in arrival order: the first `reset` of the unit interval
// closes the connection without answering, the next `fail_429` answers 429 with
// Retry-After, the next `fail_5xx` answers 503. Ratios are in [0, 1].
// The outage window answers 503 to everything from `outage_start_s` seconds after
// the config was applied (server start, or set_faults()) for `outage_duration_s`;
// a negative start disables it. `latency_ms` delays every faultable answer.
struct FaultConfig {
  double fail_429 = 0;
  int retry_after_s = 1;
  double fail_5xx = 0;
  int latency_ms = 0;
  double reset = 0;
  double outage_start_s = -1;
  double outage_duration_s = 0;
  std::uint64_t seed = 1;
};

// full: keep every row (merge/delete applied) so tests can read them back.
// ids: keep only a 64-bit hash per (object, row id) and counts; for long load runs.
enum class StoreMode { full, ids };

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;                 // 0: the OS picks one; see FakeApi::port()
  std::string api_key;                    // empty: no auth required
  std::size_t max_payload_bytes = 6u << 20;  // compressed and decoded body limit (413)
  StoreMode store = StoreMode::full;
  FaultConfig faults;
  std::string tls_cert_file, tls_key_file;  // both set: serve HTTPS (PEM files)
  unsigned threads = 1;                     // io threads
  std::size_t request_log_limit = 200'000;  // older records are dropped past this
  // A connection that takes longer than this to deliver its next complete
  // request (headers and body) is closed; noticed within about a second.
  std::chrono::milliseconds idle_timeout{120'000};
  // The api_url POST /api/apikey/login answers (where an SDK logs after logging in at this
  // server as its app URL); empty: this server's own URL. See app.hpp.
  std::string login_api_url;
};

// One request to /v1/* or /version, recorded just before its answer is written
// (or its connection reset). status is 0 for a reset.
struct RequestRecord {
  std::chrono::system_clock::time_point at;
  std::string method, target;
  int status = 0;
  std::string content_encoding;
  std::size_t events = 0;  // events (or feedback items) in the body, when parsed
};

// Counters over /v1/* and /version requests since start or the last reset().
// requests: answered requests by status; requests_total: every request received,
// answered or reset (so requests_total == sum(requests) + resets).
// rows_received, unique_rows, duplicate_rows and inserts count only inserts
// answered 2xx (a faulted or rejected insert receives nothing); unique_rows counts
// distinct (kind, object, row id) ever received, deleted or not.
// bytes_received: wire body bytes of every counted request; bytes_decoded: the
// decoded size of bodies that were decoded (not faulted, not rejected before).
struct StatsSnapshot {
  std::map<int, std::uint64_t> requests;
  std::uint64_t requests_total = 0, rows_received = 0, unique_rows = 0, duplicate_rows = 0,
                bytes_received = 0, bytes_decoded = 0, inserts = 0;
  std::int64_t last_429_at_ms = 0;  // unix ms of the last 429 answered, 0 if none
  std::uint64_t resets = 0;         // connections closed by the reset fault
  std::uint64_t feedback_items = 0;
  std::map<std::string, std::uint64_t> encodings;  // "zstd" | "gzip" | "identity" -> bodies
};

namespace detail {
class Service;
class Server;
}  // namespace detail

// Thread-safe: every member may be called from any thread while the server runs.
class FakeApi {
 public:
  // Binds and starts serving; throws std::system_error (bind, TLS files) or
  // std::invalid_argument (config) with a message naming the problem. The io
  // threads start last.
  explicit FakeApi(ServerConfig config);
  ~FakeApi();
  FakeApi(const FakeApi&) = delete;
  FakeApi& operator=(const FakeApi&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT" ("https://..." with TLS)

  void stop();  // idempotent; closes the listener and joins the io threads

  StatsSnapshot stats() const;
  std::string stats_json() const;  // the body GET /_fake/stats answers
  void reset();                    // clears stats, the request log and stored rows (not projects)
  // Replaces the fault config; its outage window counts from now; reseeds the PRNG.
  void set_faults(FaultConfig faults);
  FaultConfig faults() const;

  std::vector<RequestRecord> request_log() const;

  // Stored rows. kind is "project_logs" | "experiment" | "dataset". row() is
  // nullopt in ids mode; row_count() counts current rows (full) or distinct ids (ids).
  std::optional<boost::json::object> row(std::string_view kind, std::string_view object_id,
                                         std::string_view row_id) const;
  std::size_t row_count(std::string_view kind, std::string_view object_id) const;
  std::string project_id(std::string_view name) const;  // "" when no such project

 private:
  std::shared_ptr<detail::Service> service_;
  std::unique_ptr<detail::Server> server_;
};

}  // namespace spanline::fakeapi
