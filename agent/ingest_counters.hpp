#pragma once
// The daemon's own counters (the pipeline's live in spanline::Stats): per listener, events
// queued, bytes read, invalid input by reason, connections; HTTP ingest answers by status.
// Lock-free atomics bumped by the listeners; snapshot() copies them for /metrics.

#include "ingest/ndjson_parser.hpp"
#include "otlp_counters.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string_view>

namespace spanline::agent {

enum class Listener : std::uint8_t { uds, datagram, tcp, http };
// One slot per AuthRefusal (ingest_auth.hpp; checked there by a static_assert).
inline constexpr std::size_t kAuthRefusalSlots = 4;
// The reverse proxy's requests (api_proxy.hpp), by route class and outcome.
inline constexpr std::array<std::string_view, 7> kProxyRouteNames = {
    "prompt", "function", "btql", "xact_id", "attachment", "fetch", "other"};
// cut_off: the upstream's answer broke off after its head was passed on (idle past
// proxy.timeout_ms, larger than proxy.max_response_bytes, upstream error, client gone).
enum class ProxyOutcome : std::uint8_t { answered, bad_gateway, gateway_timeout, cut_off };
inline constexpr std::array<std::string_view, 4> kProxyOutcomeNames = {"answered", "bad_gateway",
                                                                       "gateway_timeout", "cut_off"};
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
  // HTTP ingest requests refused by authentication, by reason (AuthRefusal order).
  std::array<std::uint64_t, kAuthRefusalSlots> auth_refused{};
  std::array<std::array<std::uint64_t, kProxyOutcomeNames.size()>, kProxyRouteNames.size()> proxy{};
  OtlpSnapshot otlp;
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
  void count_auth_refused(std::size_t reason) noexcept {
    if (reason < auth_refused_.size()) auth_refused_[reason].fetch_add(1, std::memory_order_relaxed);
  }
  void count_proxy(std::size_t route, ProxyOutcome outcome) noexcept {
    if (route < proxy_.size())
      proxy_[route][static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
  void set_ready(bool ready) noexcept { ready_.store(ready, std::memory_order_release); }
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }

  IngestSnapshot snapshot() const;

  OtlpCounters otlp;  // the OTLP trace receiver's (otlp_http.hpp)

 private:
  std::array<PerListener, kListenerCount> listeners_{};
  std::array<std::atomic<std::uint64_t>, 600> http_responses_{};
  std::array<std::atomic<std::uint64_t>, kAuthRefusalSlots> auth_refused_{};
  std::array<std::array<std::atomic<std::uint64_t>, kProxyOutcomeNames.size()>, kProxyRouteNames.size()>
      proxy_{};
  std::atomic<bool> ready_{false};
};

}  // namespace spanline::agent
