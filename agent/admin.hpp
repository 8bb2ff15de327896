#pragma once
// The admin endpoint, on its own loopback port:
//   GET /metrics  Prometheus text (see prometheus.hpp)
//   GET /healthz  200 while the process runs
//   GET /readyz   200 once every listener is bound, 503 before that and while stopping

#include "durable_ingest.hpp"
#include "http_server.hpp"
#include "ingest_counters.hpp"

#include <spanline/logger.hpp>

namespace spanline::agent {

// `durable` (may be null) adds the durable-ack ingest counters to /metrics.
HttpHandler make_admin_handler(Logger& logger, IngestCounters& counters,
                               const DurableIngestCounters* durable = nullptr);

}  // namespace spanline::agent
