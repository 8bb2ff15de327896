#pragma once
// How far the batcher is behind: the bytes of rows waiting in the queue for it. When
// it is more than a limit behind, producers whose overflow policy waits (block, spill)
// wait for it to catch up, even though the memory budget still has room.
//
// Why: the batcher falls behind only when the machine's CPU is saturated (in an outage
// or a 429 pause rows pile up further down, in batches the sender holds). Then a deep
// queue adds no throughput, only age: a row the batcher reads 300 ms after it was
// written has left every cache, and reading it again costs the batcher, on a CPU that
// is already short, so a shallow queue of warm rows moves more spans per CPU second
// than a deep one of cold rows (figures in the commit that added this).
//
// The wait never drops a row: once a producer has waited its block timeout, it goes on
// to the budget as usual. Policies that must not wait (drop_newest, drop_oldest) do not
// look at the backlog at all.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace spanline::detail {

class Backlog {
 public:
  // `limit_bytes`: behind once more than this waits; caught up again at half of it.
  explicit Backlog(std::uint64_t limit_bytes) : limit_bytes_(limit_bytes) {}
  Backlog(const Backlog&) = delete;
  Backlog& operator=(const Backlog&) = delete;

  // Producers: one relaxed load of a flag that changes only when the batcher crosses
  // the limit.
  bool behind() const noexcept { return behind_.load(std::memory_order_relaxed); }
  // Producers: returns once the batcher has caught up, `deadline` has passed or
  // close() was called.
  void wait_until_caught_up(std::chrono::steady_clock::time_point deadline) noexcept;

  // The batcher, after each drain: about how many bytes of rows still wait for it.
  void update(std::uint64_t waiting_bytes) noexcept;
  // No more waiting: wakes every waiter, and behind() stays false. For shutdown, when
  // the batcher drains whatever is left.
  void close() noexcept;

  std::uint64_t limit_bytes() const noexcept { return limit_bytes_; }

 private:
  void set_behind(bool behind) noexcept;

  const std::uint64_t limit_bytes_;
  alignas(64) std::atomic<bool> behind_{false};  // read on every log call: its own line
  alignas(64) std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::condition_variable caught_up_;
};

}  // namespace spanline::detail
