#pragma once
// Counters of the OTLP trace receiver (otlp_http.hpp), shown in /metrics as
// spanline_otlp_*: requests by encoding, requests refused whole (undecodable, no
// destination), spans received, queued, refused alone by reason, and not queued under
// backpressure. Lock-free; snapshot() copies them.

#include "otlp/otlp_decode.hpp"
#include "otlp/otlp_mapping.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace spanline::agent {

struct OtlpSnapshot {
  std::array<std::uint64_t, 2> requests{};  // by otlp::Encoding
  std::uint64_t requests_invalid = 0;       // refused whole: 400 / 415
  std::uint64_t spans_received = 0;
  std::uint64_t spans_queued = 0;
  std::uint64_t spans_not_queued = 0;  // valid, but the pipeline refused them (answered 429/503)
  std::array<std::uint64_t, otlp::kSpanRejectionCount> spans_rejected{};
};

class OtlpCounters {
 public:
  static constexpr auto relaxed = std::memory_order_relaxed;
  void count_request(otlp::Encoding encoding) {
    requests_[static_cast<std::size_t>(encoding)].fetch_add(1, relaxed);
  }
  void count_invalid_request() { requests_invalid_.fetch_add(1, relaxed); }
  void count_received(std::uint64_t spans) { spans_received_.fetch_add(spans, relaxed); }
  void count_queued(std::uint64_t spans) { spans_queued_.fetch_add(spans, relaxed); }
  void count_not_queued(std::uint64_t spans) { spans_not_queued_.fetch_add(spans, relaxed); }
  void count_rejected(otlp::SpanRejection reason) {
    spans_rejected_[static_cast<std::size_t>(reason)].fetch_add(1, relaxed);
  }

  OtlpSnapshot snapshot() const {
    OtlpSnapshot out;
    for (std::size_t i = 0; i < out.requests.size(); ++i) out.requests[i] = requests_[i].load(relaxed);
    out.requests_invalid = requests_invalid_.load(relaxed);
    out.spans_received = spans_received_.load(relaxed);
    out.spans_queued = spans_queued_.load(relaxed);
    out.spans_not_queued = spans_not_queued_.load(relaxed);
    for (std::size_t i = 0; i < out.spans_rejected.size(); ++i)
      out.spans_rejected[i] = spans_rejected_[i].load(relaxed);
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, 2> requests_{};
  std::atomic<std::uint64_t> requests_invalid_{0};
  std::atomic<std::uint64_t> spans_received_{0};
  std::atomic<std::uint64_t> spans_queued_{0};
  std::atomic<std::uint64_t> spans_not_queued_{0};
  std::array<std::atomic<std::uint64_t>, otlp::kSpanRejectionCount> spans_rejected_{};
};

// Appends the spanline_otlp_* families (Prometheus text format) to `out`.
void render_otlp_metrics(const OtlpSnapshot& otlp, std::string& out);

}  // namespace spanline::agent
