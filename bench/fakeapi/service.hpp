#pragma once
// The fake API's request handling, independent of sockets: turns one complete
// HTTP request into an Outcome (answer, delay or reset) and keeps the counters.
// Sessions call handle() then, just before the answer leaves, record().

#include "body.hpp"
#include "fake_api.hpp"
#include "faults.hpp"
#include "store.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace spanline::fakeapi::detail {

class AppRoutes;
using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Outcome {
  bool reset = false;      // close the connection without answering
  unsigned status = 200;
  std::string body;        // JSON
  int retry_after_s = -1;  // >= 0: send Retry-After
  std::chrono::milliseconds delay{0};

  // Accounting, applied by record(). Only /v1/* and /version are counted.
  bool counted = false;
  std::string method, target, content_encoding;
  std::size_t events = 0;
  std::uint64_t bytes_received = 0, bytes_decoded = 0;
  std::string decoded_encoding;  // "zstd" | "gzip" | "identity" when a body was decoded
  bool insert = false;           // a 2xx insert
  InsertCounts rows;
  std::size_t feedback_items = 0;
};

// Thread-safe.
class Service {
 public:
  explicit Service(const ServerConfig& config);  // validates; throws std::invalid_argument
  ~Service();

  // Handles a request whose body was read completely. May move from req.body().
  Outcome handle(Request& req);
  // The answer to a request whose body exceeded the limit while being read.
  Outcome body_too_large(const Request& req);
  // Counts an outcome; call once, just before its answer is written or its reset.
  void record(const Outcome& outcome);

  std::size_t max_payload_bytes() const { return max_payload_bytes_; }

  StatsSnapshot stats() const;
  std::string stats_json() const;
  std::vector<RequestRecord> request_log() const;
  void reset();
  void set_faults(const FaultConfig& faults) { faults_.replace(faults); }
  FaultConfig faults() const { return faults_.config(); }

  const RowStore& store() const { return store_; }
  const ProjectRegistry& projects() const { return projects_; }

 private:
  struct Counters {
    StatsSnapshot stats;
    std::deque<RequestRecord> log;
    std::uint64_t log_dropped = 0;
  };

  Outcome handle_control(Request& req, std::string_view path);
  void handle_api(Request& req, std::string_view path, std::string_view query, Outcome& out);
  // Decodes the body into `decoded` (valid until this thread's next request); on
  // failure fills `out` with the error answer.
  bool decode_body(Request& req, DecodedBody& decoded, Outcome& out);
  bool authorized(const Request& req) const;

  void handle_insert(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out);
  void handle_insert_full(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out);
  void handle_insert_ids(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out);
  void handle_fetch(std::string_view kind, std::string_view id, std::string_view query, std::string_view body,
                    Outcome& out);
  void handle_feedback(std::string_view kind, std::string_view id, std::string_view body, Outcome& out);
  void handle_project(Request& req, std::string_view query, std::string_view body, Outcome& out);
  // POST /logs3 as the official SDKs send it: rows routed by their object ids.
  void handle_logs3(DecodedBody body, Outcome& out);

  const std::string api_key_;
  const std::size_t max_payload_bytes_;
  const std::size_t log_limit_;
  FaultPlan faults_;
  RowStore store_;
  ProjectRegistry projects_;
  std::unique_ptr<AppRoutes> app_;
  mutable std::mutex counters_mutex_;
  Counters counters_;
};

// {"message": text} with text JSON-escaped.
std::string error_body(std::string_view message);

}  // namespace spanline::fakeapi::detail
