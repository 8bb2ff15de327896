#pragma once
// The batcher: one thread that drains the row queue in bulk, groups rows by
// destination, coalesces rows with the same id, and closes batches on size, row
// count, linger, flush or stop into the BatchSink, unencoded (the Encoder stage
// compresses them on its own threads).
// Linger closes a batch only while the sink is ready to send one at once; while it is
// not (a 429 pause, every request slot busy), the batch grows up to its size limits.
// The byte limit is batch_max_bytes (capped by the sink's payload limit), except while
// the host is rate-limited (BatchSink::rate_limited(): a recent 429, or batches waiting
// at the sender): then batches grow to the payload limit itself, so that each
// request the host allows carries as many rows as it may. Read at every drain, so
// batches shrink back as soon as the pressure ends. While the sink reports the host
// rate-limited, linger does not close a batch either (only size, rows, flush, stop).

#include "batch/batch_sink.hpp"
#include "batch/coalescer.hpp"
#include "batch/settled_events.hpp"
#include "accounting/accounting.hpp"
#include "errors/error_reporter.hpp"
#include "core/last_time.hpp"
#include "queue/backlog.hpp"
#include "queue/row_queue.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace spanline::detail {

struct BatcherConfig {
  std::size_t batch_max_bytes = std::size_t{2}
                                << 20;   // uncompressed body; also capped by sink.payload_limit()
  std::size_t batch_max_rows = 10'000;   // events per batch
  std::chrono::milliseconds linger{20};  // longest a row waits in an open batch (sink ready)
};

// Owns one thread. Every reference passed to the constructor must outlive the Batcher.
// start(), begin_flush(), end_flush() and stop() may be called from any thread.
class Batcher {
 public:
  // `backlog`, when given, is told after each drain how much still waits in the queue.
  // `settled`, when given, holds events the sender is done with, freed here.
  Batcher(BatcherConfig config, RowQueue& queue, BatchSink& sink, Accounting& accounting,
          ErrorReporter& errors, Backlog* backlog = nullptr, SettledEvents* settled = nullptr);
  ~Batcher();  // stop()
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Starts the thread; a second call does nothing.
  void start();
  // While at least one flush is pending, every open batch closes as soon as a drain
  // finds the queue empty, instead of lingering. Each begin_flush() needs one end_flush().
  void begin_flush() noexcept;
  void end_flush() noexcept;
  // Drains the queue completely, closes every open batch into the sink and joins the
  // thread. Rows pushed after stop() returns stay in the queue. Idempotent; when
  // start() was never called, the drain runs on the calling thread.
  void stop() noexcept;

 private:
  void run() noexcept;
  // One pop_bulk and what follows it; false once stopping and the queue is empty.
  bool step();
  void add_row(Row&& row, std::chrono::steady_clock::time_point now);
  Coalescer& open_batch(std::uint32_t destination);
  void close(Coalescer& open);
  void close_all();
  // How long the next pop_bulk may sleep, and what may wake it early.
  std::chrono::microseconds next_wait(std::chrono::steady_clock::time_point now, RowQueue::WakeOn& wake_on) const;
  void read_limits() noexcept;
  // After a drain of `drained` rows into buffer_: tells the backlog the queue's depth.
  void report_backlog(std::size_t drained) noexcept;

  const BatcherConfig config_;
  RowQueue& queue_;
  BatchSink& sink_;
  Accounting& accounting_;
  ErrorReporter& errors_;
  Backlog* const queue_backlog_;  // may be null
  SettledEvents* const settled_;   // may be null
  std::uint64_t average_row_bytes_ = 0;  // of the last drain that found rows

  struct Open {
    std::unique_ptr<Coalescer> batch;
    bool active = false;  // listed in active_
  };
  // Open batches, indexed by destination (indices are small and dense); active_
  // lists the destinations that may hold rows, so timers scan only those.
  std::vector<Open> open_;
  std::vector<std::uint32_t> active_;
  std::size_t payload_limit_ = 0;  // sink_.payload_limit() as of the current drain
  std::size_t limit_ = 0;          // byte limit of a batch as of the current drain (read_limits)
  bool rate_limited_ = false;      // sink_.rate_limited() as of the current drain
  std::vector<Row> buffer_;
  bool backlog_ = false;                             // the last drain filled buffer_
  LastTime last_rows_;  // when a drain last found rows

  std::atomic<int> flushes_pending_{0};
  std::atomic<bool> stopping_{false};
  std::mutex lifecycle_mutex_;  // start() and stop() against each other
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace spanline::detail
