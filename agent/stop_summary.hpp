#pragma once
// The line spanlined prints when it stops: what happened to every row it was handed,
// in figures that add up (docs/stop-summary.md):
//   received = accepted + refused
//   accepted = delivered + rejected + dropped + spooled + pending
// Rows of an earlier run's spool that this run replayed are shown apart (replayed_*):
// they were accepted by that run, not this one.

#include <spanline/logger.hpp>
#include <spanline/stats.hpp>

#include <cstdint>
#include <string>

namespace spanline::agent {

struct StopSummary {
  std::uint64_t received = 0;   // rows the listeners handed to the pipeline
  std::uint64_t accepted = 0;   // of those, taken into the queue (or the spool, ingest.ack = durable)
  std::uint64_t refused = 0;    // of those, refused at once: queue full, too large, shutting down
  std::uint64_t delivered = 0;  // accepted rows the API acknowledged
  std::uint64_t rejected = 0;   // accepted rows the API refused for good
  std::uint64_t dropped = 0;    // accepted rows given up later (evicted, retries exhausted, shutdown...)
  std::uint64_t spooled = 0;    // accepted rows written to the spool; the next run replays them
  std::uint64_t pending = 0;    // accepted rows in none of those states at the end (0 when complete)
  std::uint64_t replayed_delivered = 0;  // rows from an earlier run's spool, acknowledged
  std::uint64_t replayed_rejected = 0;   // rows from an earlier run's spool, refused for good
  bool complete = false;

  // True when the figures add up as the header says.
  bool adds_up() const noexcept;
};

// From the logger's counters once it has shut down, and the shutdown's result.
StopSummary make_stop_summary(const Stats& stats, const FlushResult& result);

// "received=… accepted=… refused=… delivered=… rejected=… dropped=… spooled=… pending=…
//  replayed_delivered=… replayed_rejected=… complete=yes|no"
std::string to_string(const StopSummary& summary);

}  // namespace spanline::agent
