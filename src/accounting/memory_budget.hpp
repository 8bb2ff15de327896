#pragma once
// The byte and row budget every accepted, unresolved row counts against: while a
// row waits in the queue, in an open batch, in flight or in a retry. Producers
// acquire; whoever resolves a row (delivered, rejected, dropped) releases.
//
// Encoded request bodies count too (charge(), body_charge.hpp): a batch's compressed
// body lives beside its rows from encoding until its request is done, and left out it
// let the process grow well past the budget while batches waited for the upstream. A
// charge is never refused, so the stages that encode never wait for room only their own
// output could free; what waits instead is the admission of new rows, refused while
// rows and bodies together fill the budget.
//
// Rows also leave room for the bodies they will become: were rows alone let fill the
// budget, their bodies, charged once encoded, would take it past max_bytes by the
// compression ratio. So rows alone may take max_bytes / (1 + r), where r is the ratio of
// body bytes to row bytes that note_body() observes (0, no room kept, until it has
// seen a batch).
//
// Producer credit. Taking room row by row means two atomic read-modify-writes per row
// on counters every producer and the releasing threads share. try_acquire_from_credit()
// instead takes room for many rows at once (a chunk: up to kMaxCreditRows rows and
// kMaxCreditBytes bytes) into a per-thread credit, and spends it row by row without
// touching shared memory. Credit is room taken from the budget like any other, so the
// counters never exceed the bounds; what credit changes is only who may use room:
//  - a chunk is taken only while the budget is less than half full, so credit never
//    holds more than half of the budget, and near the bounds every row is admitted
//    exactly (try_acquire), as without credit;
//  - room held as credit by one thread is not available to another: at most one chunk
//    per producer thread (max_bytes/256 and max_rows/256, at most 64 KiB and 64 rows)
//    can sit unused until that thread logs again or exits;
//  - bytes_in_use()/rows_in_use() count unspent credit as in use.
// Budgets too small for chunks of at least kMinCreditRows rows and kMinCreditBytes
// bytes give no credit: try_acquire_from_credit() is then try_acquire().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace spanline::detail {

class MemoryBudget {
 public:
  static constexpr std::uint64_t kMaxCreditBytes = 64 * 1024;
  static constexpr std::uint64_t kMaxCreditRows = 64;
  static constexpr std::uint64_t kMinCreditBytes = 8 * 1024;
  static constexpr std::uint64_t kMinCreditRows = 8;

  MemoryBudget(std::uint64_t max_bytes, std::uint64_t max_rows);
  ~MemoryBudget();
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Takes room for one row if there is some; never waits.
  [[nodiscard]] bool try_acquire(std::uint64_t bytes) noexcept;
  // The same, from this thread's credit when it can (see above).
  [[nodiscard]] bool try_acquire_from_credit(std::uint64_t bytes) noexcept;
  // Waits until room frees up or `deadline` passes (false) or close() is called (false).
  [[nodiscard]] bool acquire_until(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline);
  // Counts `bytes` of encoded bodies as in use, even past max_bytes() (never refused,
  // never waits): new rows find less room until uncharge() gives them back.
  void charge(std::uint64_t bytes) noexcept;
  // Gives back what charge() took; runs the wakes as release() does.
  void uncharge(std::uint64_t bytes) noexcept;
  // A batch whose rows held `row_bytes` was encoded into `body_bytes`: updates r (a
  // moving average). Any thread.
  void note_body(std::uint64_t body_bytes, std::uint64_t row_bytes) noexcept;
  // What rows alone may take now (see above).
  std::uint64_t row_bytes_limit() const noexcept;
  // Gives back room for `rows` rows of `bytes` bytes in total. Runs the wakes registered
  // with notify_when_room() before it, on this thread, outside this budget's lock (but
  // under the registry lock when a thread's credit goes back as it exits).
  void release(std::uint64_t bytes, std::uint64_t rows) noexcept;
  // For producers that must never wait (the sidecar's I/O threads): `wake` runs once, on
  // the thread of the next release() or close() (at once on this thread when already
  // closed), never under this budget's lock. It must not block or throw (it may register
  // again); it usually posts work to an event loop. To not miss room freed between a
  // failed try_acquire and this call, try again after registering: a wake that finds its
  // producer already served is harmless.
  void notify_when_room(std::function<void()> wake);
  // Gives back the calling thread's unspent credit for this budget (a thread's credit
  // also goes back when it exits, or when it uses several budgets in turn).
  void return_credit() noexcept;
  // Wakes every waiter (and runs every notify_when_room wake); later acquire_until calls
  // fail at once.
  void close() noexcept;

  std::uint64_t bytes_in_use() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t rows_in_use() const noexcept { return rows_.load(std::memory_order_relaxed); }
  // The part of bytes_in_use() that charge() took (encoded bodies).
  std::uint64_t charged_bytes() const noexcept { return charged_.load(std::memory_order_relaxed); }
  std::uint64_t max_bytes() const noexcept { return max_bytes_; }
  // The chunk a credit refill takes (0 when this budget gives no credit).
  std::uint64_t credit_chunk_bytes() const noexcept { return credit_bytes_; }
  std::uint64_t credit_chunk_rows() const noexcept { return credit_rows_; }

 private:
  friend struct CreditCache;
  bool take_chunk(std::uint64_t bytes, std::uint64_t rows) noexcept;
  void run_wakes() noexcept;

  const std::uint64_t max_bytes_;
  const std::uint64_t max_rows_;
  const std::uint64_t credit_bytes_;
  const std::uint64_t credit_rows_;
  const std::uint64_t instance_id_;
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> rows_{0};
  std::atomic<std::uint64_t> charged_{0};         // of bytes_
  std::atomic<std::uint32_t> body_per_mille_{0};  // r, in thousandths
  std::atomic<bool> noted_{false};                // note_body() has seen a batch
  std::atomic<bool> closed_{false};
  std::atomic<int> waiters_{0};
  std::mutex mutex_;
  std::condition_variable room_freed_;
  std::vector<std::function<void()>> wakes_;  // guarded by mutex_; each counted in waiters_
};

}  // namespace spanline::detail
