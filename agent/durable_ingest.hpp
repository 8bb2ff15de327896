#pragma once
// Durable-ack ingest (ingest.ack = "durable"): the rows of one HTTP request or one stream
// read, grouped by destination for sidecar::log_durable, and the counters of what came of
// them. Header-only: plain data plus lock-free atomics, so /metrics can render a snapshot
// without knowing the sink.

#include "ingest_counters.hpp"

#include <spanline/sidecar/logger.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace spanline::agent {

inline constexpr std::size_t kDurableResultCount = 6;  // DurableResult values

// Stable names for logs, metrics and the answers clients see. (Not called to_string: the
// enum lives in spanline::Logger, and ADL would make a same-named overload ambiguous.)
inline std::string_view durable_result_name(DurableResult result) {
  switch (result) {
    case DurableResult::durable:
      return "durable";
    case DurableResult::no_spool:
      return "no_spool";
    case DurableResult::spool_full:
      return "spool_full";
    case DurableResult::io_error:
      return "io_error";
    case DurableResult::timeout:
      return "timeout";
    case DurableResult::closed:
      return "closed";
  }
  return "unknown";
}

// Rows waiting for one commit, grouped by destination (a request or a read rarely names
// more than a few, so a flat list beats a map).
class DurableBatch {
 public:
  void add(DestinationHandle to, PreparedRow row) {
    bytes_ += row.json.size();
    for (auto& [handle, rows] : groups_) {
      if (handle.index == to.index) {
        rows.push_back(std::move(row));
        ++rows_;
        return;
      }
    }
    groups_.emplace_back(to, std::vector<PreparedRow>{});
    groups_.back().second.push_back(std::move(row));
    ++rows_;
  }
  std::size_t rows() const { return rows_; }
  std::size_t bytes() const { return bytes_; }  // of the rows' JSON text
  bool empty() const { return rows_ == 0; }
  std::vector<std::pair<DestinationHandle, std::vector<PreparedRow>>>& groups() { return groups_; }
  void clear() {
    groups_.clear();
    rows_ = 0;
    bytes_ = 0;
  }

 private:
  std::vector<std::pair<DestinationHandle, std::vector<PreparedRow>>> groups_;
  std::size_t rows_ = 0;
  std::size_t bytes_ = 0;
};

struct DurableIngestSnapshot {
  bool enabled = false;  // ingest.ack = "durable"
  struct PerListener {
    std::array<std::uint64_t, kDurableResultCount> rows{};  // valid rows, by commit result
    std::uint64_t commits = 0;                              // requests or stream reads committed
    double commit_seconds = 0;                              // from queued to settled, summed
  };
  std::array<PerListener, kListenerCount> listeners{};
};

class DurableIngestCounters {
 public:
  void count(Listener listener, DurableResult result, std::size_t rows) noexcept {
    at(listener).rows[static_cast<std::size_t>(result)].fetch_add(rows, std::memory_order_relaxed);
  }
  void count_commit(Listener listener, std::chrono::nanoseconds spent) noexcept {
    auto& l = at(listener);
    l.commits.fetch_add(1, std::memory_order_relaxed);
    l.commit_nanoseconds.fetch_add(static_cast<std::uint64_t>(spent.count()), std::memory_order_relaxed);
  }
  void set_enabled(bool enabled) noexcept { enabled_.store(enabled, std::memory_order_relaxed); }

  DurableIngestSnapshot snapshot() const {
    DurableIngestSnapshot out;
    out.enabled = enabled_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kListenerCount; ++i) {
      const PerListener& in = listeners_[i];
      for (std::size_t r = 0; r < kDurableResultCount; ++r)
        out.listeners[i].rows[r] = in.rows[r].load(std::memory_order_relaxed);
      out.listeners[i].commits = in.commits.load(std::memory_order_relaxed);
      out.listeners[i].commit_seconds =
          static_cast<double>(in.commit_nanoseconds.load(std::memory_order_relaxed)) / 1e9;
    }
    return out;
  }

 private:
  struct PerListener {
    std::array<std::atomic<std::uint64_t>, kDurableResultCount> rows{};
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> commit_nanoseconds{0};
  };
  PerListener& at(Listener listener) { return listeners_[static_cast<std::size_t>(listener)]; }

  std::array<PerListener, kListenerCount> listeners_{};
  std::atomic<bool> enabled_{false};
};

}  // namespace spanline::agent
