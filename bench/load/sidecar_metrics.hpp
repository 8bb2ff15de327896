#pragma once
// What the spanlined sidecar says it dropped itself, read from its admin endpoint
// (GET /metrics, the Prometheus text of agent/prometheus.cpp): the harness scrapes it
// before and after a run, so rows the daemon counted as dropped, invalid or rejected
// are reported as such instead of as silent loss.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::load {

struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses Prometheus text exposition: comment lines are skipped, every other non-empty
// line must be `name[{label="value",...}] value [timestamp]`. nullopt when a line is not,
// so a half-read or foreign answer never passes for counts.
std::optional<std::vector<MetricSample>> parse_metrics_text(std::string_view text);

// Rows the sidecar counted as not delivered, by reason, as plain numbers. Keys are the
// daemon's own names: a drop reason of spanline_rows_dropped_total ("queue_full",
// "evicted_oldest", ...), "rejected" (spanline_rows_rejected_total: the API refused them)
// and "invalid_<reason>" (spanline_ingest_invalid_total, summed over listeners). Reasons
// with a zero count are left out.
struct SidecarDrops {
  std::map<std::string, std::uint64_t> by_reason;
  std::uint64_t total() const;
};

// What one scrape says.
struct SidecarCounts {
  SidecarDrops drops;
  std::uint64_t pending_rows = 0;  // gauge: accepted and not yet delivered, rejected or dropped
};
// The sidecar's drop counters and pending gauge in a scrape. nullopt when the scrape has
// none of the drop families (not a spanlined /metrics answer).
std::optional<SidecarCounts> sidecar_counts(const std::vector<MetricSample>& samples);
// Reason-wise `after - before` (saturating at 0; zero counts left out): what one run added.
SidecarDrops delta(const SidecarDrops& after, const SidecarDrops& before);

// Of the sidecar's drops, the rows the harness has not counted itself. The HTTP listener
// answers every refusal it makes at ingest (503 for a full queue or shutdown, 413 too
// large, 400 invalid) and the http target counts that request's rows as dropped locally;
// only what the daemon dropped after accepting a row (evicted, retries exhausted, spool
// full, rejected by the API) is news then. The stream and datagram listeners answer
// nothing, so every sidecar drop is news for those targets.
std::uint64_t drops_unknown_to_client(const SidecarDrops& drops, bool client_counts_refusals);

// Reads GET http://host:port/metrics. One connection; not thread-safe.
class SidecarScraper {
 public:
  // `admin_address`: "host:port" of spanlined's admin.listen. Throws std::invalid_argument
  // when it is not of that shape.
  explicit SidecarScraper(const std::string& admin_address);
  ~SidecarScraper();
  SidecarScraper(const SidecarScraper&) = delete;
  SidecarScraper& operator=(const SidecarScraper&) = delete;

  // nullopt when the endpoint cannot be read or is not a spanlined /metrics answer.
  std::optional<SidecarCounts> read();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spanline::load
