#pragma once
// Renders the pipeline's Stats and the daemon's ingest counters in the Prometheus text
// exposition format (version 0.0.4): a HELP and a TYPE line for every metric family,
// counters ending in _total, and the request latency as a cumulative histogram.
// Pure function of its inputs, so it can be tested and benchmarked without a daemon.

#include "durable_ingest.hpp"
#include "ingest_counters.hpp"

#include <spanline/stats.hpp>

#include <string>
#include <string_view>

namespace spanline::agent {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends the exposition to `out` (cleared first); reusing one string avoids reallocation.
// The durable-ack ingest families appear only when `durable.enabled`; the spool families
// always (all zero without a spool), so dashboards need not special-case either setup.
void render_prometheus(const Stats& stats, const IngestSnapshot& ingest, const DurableIngestSnapshot& durable,
                       std::string& out);
void render_prometheus(const Stats& stats, const IngestSnapshot& ingest, std::string& out);
std::string render_prometheus(const Stats& stats, const IngestSnapshot& ingest);

}  // namespace spanline::agent
