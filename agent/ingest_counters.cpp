#include "ingest_counters.hpp"

namespace spanline::agent {

std::string_view to_string(Listener listener) {
  switch (listener) {
    case Listener::uds:
      return "uds";
    case Listener::datagram:
      return "datagram";
    case Listener::tcp:
      return "tcp";
    case Listener::http:
      return "http";
  }
  return "unknown";
}

IngestSnapshot IngestCounters::snapshot() const {
  IngestSnapshot out;
  constexpr auto relaxed = std::memory_order_relaxed;
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    const PerListener& in = listeners_[i];
    IngestSnapshot::PerListener& o = out.listeners[i];
    o.events = in.events.load(relaxed);
    o.not_queued = in.not_queued.load(relaxed);
    o.bytes = in.bytes.load(relaxed);
    for (std::size_t r = 0; r < detail::kIngestErrorCount; ++r) o.invalid[r] = in.invalid[r].load(relaxed);
    o.connections_active = in.connections_active.load(relaxed);
    o.connections_total = in.connections_total.load(relaxed);
    o.connections_refused = in.connections_refused.load(relaxed);
    o.connections_idle_closed = in.connections_idle_closed.load(relaxed);
    o.waits_for_room = in.waits_for_room.load(relaxed);
  }
  for (std::size_t status = 0; status < http_responses_.size(); ++status) {
    if (const auto n = http_responses_[status].load(relaxed))
      out.http_responses[static_cast<int>(status)] = n;
  }
  for (std::size_t r = 0; r < auth_refused_.size(); ++r) out.auth_refused[r] = auth_refused_[r].load(relaxed);
  for (std::size_t r = 0; r < proxy_.size(); ++r) {
    for (std::size_t o = 0; o < proxy_[r].size(); ++o) out.proxy[r][o] = proxy_[r][o].load(relaxed);
  }
  out.otlp = otlp.snapshot();
  out.ready = ready();
  return out;
}

}  // namespace spanline::agent
