#pragma once
// The encoder: compresses closed batches on worker threads and hands them to the
// next stage in the order they were closed.
//
// Compression is the largest single cost after coalescing (zstd-1 runs at a few
// hundred MB/s a core), so doing it on the batcher's thread would cap the whole
// pipeline at one core. Here the batcher keeps coalescing while workers compress.
// Order is kept because a span's rows can straddle two batches: the batch with its
// start row should reach the sender before the one with its end.
//
// It sits between the Batcher and the Sender as a BatchSink itself: the batcher
// submits unencoded batches; the next sink receives them encoded with its current
// encoding (after any 415 fallback), each body charged to the memory budget
// (body_charge.hpp) until its batch settles.

#include "batch/batch_sink.hpp"
#include "accounting/accounting.hpp"
#include "errors/error_reporter.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace spanline::detail {

struct EncoderConfig {
  std::size_t threads = 1;      // worker threads; 0 encodes on the submitting thread
  std::size_t max_waiting = 0;  // batches accepted but not yet handed on; 0: 2 per worker, at least 2
  int zstd_level = 1;
};

// Workers that follow the number of cores: one per two cores (the batcher, the
// sender and the application need the rest), at least one, at most four.
std::size_t default_encoder_threads();

// Every reference passed to the constructor must outlive the Encoder.
class Encoder final : public BatchSink {
 public:
  Encoder(EncoderConfig config, BatchSink& next, Accounting& accounting, ErrorReporter& errors);
  ~Encoder() override;  // stop()
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Starts the workers; a second call does nothing.
  void start();
  // Encodes and hands on everything submitted so far, then joins the workers. Later
  // submissions are encoded on the caller's thread. Idempotent.
  void stop() noexcept;

  // Waits while max_waiting batches are already waiting: that is the batcher's
  // backpressure, and it reaches producers through the memory budget.
  void submit(Batch batch) noexcept override;
  std::size_t payload_limit() const noexcept override { return next_.payload_limit(); }
  Compression encoding() const noexcept override { return next_.encoding(); }
  // Ready when a worker could start on a batch now and the next stage is ready too.
  bool ready_for_batch() const noexcept override;
  bool rate_limited() const noexcept override { return next_.rate_limited(); }
  bool payload_limit_known() const noexcept override { return next_.payload_limit_known(); }

 private:
  struct Job {
    Batch batch;
    bool encoded = false;
    bool dropped = false;  // could not be encoded; its rows are already counted
  };

  void work() noexcept;
  // Encodes with the next stage's encoding; falls back to none when the codec fails.
  // False when the batch could not be encoded at all (its rows are counted as dropped).
  bool encode_batch(Batch& batch) noexcept;
  // Hands on encoded jobs from the front, in order. Called with `lock` held; one
  // thread at a time does it, so the next stage sees batches in submission order.
  void hand_on_ready(std::unique_lock<std::mutex>& lock) noexcept;

  const EncoderConfig config_;
  const std::size_t max_waiting_;
  BatchSink& next_;
  Accounting& accounting_;
  ErrorReporter& errors_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // a job to encode, or stopping
  std::condition_variable room_ready_;  // a job left (for submit), or the queue drained (for stop)
  // Jobs in submission order; jobs_[0] has ticket front_ticket_. std::deque keeps
  // references to the other elements valid across push_back and pop_front, so a
  // worker encodes its job outside the lock.
  std::deque<Job> jobs_;
  std::uint64_t front_ticket_ = 0;
  std::uint64_t next_to_encode_ = 0;  // ticket of the first job no worker took yet
  std::size_t busy_workers_ = 0;
  bool handing_on_ = false;
  bool stopping_ = false;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace spanline::detail
