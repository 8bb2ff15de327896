#pragma once
// What the harness drives: the in-process library (inproc) or a running spanlined
// sidecar over one of its sockets (uds, udp-unix, tcp, http). A Target hands out
// one Producer per harness thread; a Producer replays traces into the target.

#include "generator.hpp"
#include "histogram.hpp"

#include <spanline/options.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace spanline::load {

// Pipeline gauges and counters, where the target can see them (inproc only).
struct TargetGauges {
  bool known = false;
  std::uint64_t queue_rows = 0, pending_rows = 0, in_flight = 0, retries = 0, status_429 = 0;
  std::uint64_t dropped = 0, rejected = 0, delivered_rows = 0, bytes_raw = 0, bytes_wire = 0, requests = 0;
};

class Producer {
 public:
  virtual ~Producer() = default;
  // Replays one trace. Each call's latency (ns) goes to `calls` when not null.
  // Returns how many rows the target refused or could not be handed over.
  virtual std::uint64_t send(const TracePlan& plan, LatencyHistogram* calls) = 0;
  // After the last send: hands over whatever the producer still holds (a partial batch).
  // Returns how many of those rows the target refused.
  virtual std::uint64_t finish(LatencyHistogram*) { return 0; }
};

class Target {
 public:
  virtual ~Target() = default;
  // One per harness thread; used only by that thread. `index` < 65536.
  virtual std::unique_ptr<Producer> make_producer(unsigned index) = 0;
  // Called once the producers are done: deliver what the target buffers. True when
  // everything accepted so far was resolved in time (always true for sockets).
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  virtual TargetGauges gauges() const = 0;
  // Stops the target (Logger::shutdown); idempotent.
  virtual void stop(std::chrono::milliseconds timeout) = 0;
};

// The library, sending to `options.api_url`, all rows to project `project_id`.
std::unique_ptr<Target> make_inproc_target(Options options, std::string project_id);

// otlp: OTLP/HTTP protobuf exports to the HTTP ingest's /v1/traces, one span per row.
// logs3: the official SDKs' POST /logs3 {"rows":[...],"api_version":2}, kLogs3RowsPerRequest
// rows per request; each producer thread is one connection, so --threads requests in flight.
enum class SocketKind { uds, udp_unix, tcp, http, otlp, logs3 };
inline constexpr std::size_t kLogs3RowsPerRequest = 100;
// `address`: a socket path (uds, udp-unix), "host:port" (tcp) or a base URL (http, otlp, logs3).
// Rows carry ids derived from `nonce`, so different runs never share ids.
// `api_key`: the bearer token the HTTP ingest requires (the sidecar's own key).
std::unique_ptr<Target> make_socket_target(SocketKind kind, std::string address, std::string project_id,
                                           std::uint64_t nonce, std::string api_key = {});

}  // namespace spanline::load
