#include "accounting.hpp"

#include <algorithm>
#include <cmath>

namespace spanline::load {

namespace {
std::uint64_t sub(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }
}  // namespace

FakeStats delta(const FakeStats& after, const FakeStats& before) {
  FakeStats d;
  d.requests = sub(after.requests, before.requests);
  d.requests_total = sub(after.requests_total, before.requests_total);
  d.rows_received = sub(after.rows_received, before.rows_received);
  d.unique_rows = sub(after.unique_rows, before.unique_rows);
  d.duplicate_rows = sub(after.duplicate_rows, before.duplicate_rows);
  d.bytes_received = sub(after.bytes_received, before.bytes_received);
  d.bytes_decoded = sub(after.bytes_decoded, before.bytes_decoded);
  d.inserts = sub(after.inserts, before.inserts);
  d.status_429 = sub(after.status_429, before.status_429);
  d.status_5xx = sub(after.status_5xx, before.status_5xx);
  return d;
}

LossSummary account(const DeliveryCounts& counts) {
  LossSummary s;
  s.missing = sub(counts.sent, counts.delivered_unique);
  const std::uint64_t counted_rows = counts.rejected + counts.dropped_local + counts.dropped_sidecar;
  s.explained = std::min(s.missing, counted_rows / std::max<std::uint64_t>(1, counts.min_rows_per_id));
  s.lost = s.missing - s.explained;
  s.unexpected = sub(counts.delivered_unique, counts.sent);
  s.loss_ratio = counts.sent == 0 ? 0.0 : static_cast<double>(s.lost) / static_cast<double>(counts.sent);
  return s;
}

void estimate_delivery_lag(const std::vector<CumulativeSample>& sent,
                           const std::vector<CumulativeSample>& delivered, LatencyHistogram& out) {
  std::size_t si = 0;
  std::uint64_t done = 0;  // rows already attributed
  for (const auto& d : delivered) {
    while (done < d.value) {
      const std::uint64_t next_row = done + 1;
      while (si < sent.size() && sent[si].value < next_row) ++si;
      if (si == sent.size()) return;
      const std::uint64_t upto = std::min(d.value, sent[si].value);
      const double lag_s = std::max(0.0, d.t - sent[si].t);
      out.record(static_cast<std::uint64_t>(std::llround(lag_s * 1e9)), upto - done);
      done = upto;
    }
  }
}

}  // namespace spanline::load
