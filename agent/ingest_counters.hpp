#pragma once
// The daemon's own counters (the pipeline's live in spanline::Stats): per listener, events
// queued, bytes read, invalid input by reason, connections; HTTP ingest answers by status.
// Lock-free atomics bumped by the listeners; snapshot() copies them for /metrics.

#include "ingest/ndjson_parser.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string_view>

namespace spanline::agent {

enum class Listener : std::uint8_t { uds, datagram, tcp, http };
inline constexpr std::size_t kListenerCount = 4;
std::string_view to_string(Listener listener);

struct IngestSnapshot {
  struct PerListener {
    std::uint64_t events = 0;      // handed to the logger and queued
    std::uint64_t not_queued = 0;  // valid, but the logger refused them (queue full, shutdown)
    std::uint64_t bytes = 0;
    std::array<std::uint64_t, detail::kIngestErrorCount> invalid{};
    std::uint64_t connections_active = 0;
    std::uint64_t connections_total = 0;
    std::uint64_t connections_refused = 0;  // over ingest.max_connections
    std::uint64_t connections_idle_closed = 0;  // closed by the daemon after ingest.idle_timeout_ms
    std::uint64_t waits_for_room = 0;  // a connection or request held back by a full memory budget
  };
  std::array<PerListener, kListenerCount> listeners{};
  std::map<int, std::uint64_t> http_responses;  // HTTP ingest answers by status code
  bool ready = false;
};

class IngestCounters {
 public:
  struct PerListener {
    std::atomic<std::uint64_t> events{0};
    std::atomic<std::uint64_t> not_queued{0};
    std::atomic<std::uint64_t> bytes{0};
    std::array<std::atomic<std::uint64_t>, detail::kIngestErrorCount> invalid{};
    std::atomic<std::uint64_t> connections_active{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> connections_refused{0};
    std::atomic<std::uint64_t> connections_idle_closed{0};
    std::atomic<std::uint64_t> waits_for_room{0};
  };

  PerListener& at(Listener listener) { return listeners_[static_cast<std::size_t>(listener)]; }
  void count_invalid(Listener listener, detail::IngestError reason) noexcept {
    at(listener).invalid[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  void count_http_response(unsigned status) noexcept {
    http_responses_[status < http_responses_.size() ? status : 0].fetch_add(1, std::memory_order_relaxed);
  }
  void set_ready(bool ready) noexcept { ready_.store(ready, std::memory_order_release); }
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }

  IngestSnapshot snapshot() const;

 private:
  std::array<PerListener, kListenerCount> listeners_{};
  std::array<std::atomic<std::uint64_t>, 600> http_responses_{};
  std::atomic<bool> ready_{false};
};

}  // namespace spanline::agent
