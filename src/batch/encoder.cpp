#include "batch/encoder.hpp"

#include "core/thread_name.hpp"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

namespace spanline::detail {

std::size_t default_encoder_threads() {
  // At least two, even on two cores: with one, a core sat idle whenever producers
  // waited for room while that one thread compressed; a second lets the other core
  // compress the next batch meanwhile.
  const std::size_t cores = std::thread::hardware_concurrency();
  return std::clamp<std::size_t>(cores / 2, 2, 4);
}

namespace {

std::size_t waiting_limit(const EncoderConfig& config) {
  if (config.max_waiting != 0) return config.max_waiting;
  return std::max<std::size_t>(2, 2 * config.threads);
}

}  // namespace

Encoder::Encoder(EncoderConfig config, BatchSink& next, Accounting& accounting, ErrorReporter& errors)
    : config_(config), max_waiting_(waiting_limit(config)), next_(next), accounting_(accounting), errors_(errors) {}

Encoder::~Encoder() { stop(); }

void Encoder::start() {
  std::lock_guard lock(mutex_);
  if (started_ || stopped_ || config_.threads == 0) return;
  started_ = true;
  workers_.reserve(config_.threads);
  for (std::size_t i = 0; i < config_.threads; ++i) {
    workers_.emplace_back([this, i] {
      name_this_thread("sl-encode-" + std::to_string(i));
      work();
    });
  }
}

void Encoder::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  work_ready_.notify_all();
  room_ready_.notify_all();
  // Workers leave only once no job is left to take, and whoever encodes the front job
  // hands on everything encoded behind it, so nothing is left once they are joined.
  for (std::thread& worker : workers_) {
    try {
      worker.join();
    } catch (const std::exception& e) {
      errors_.report("encoder", "join", std::string("could not join an encoder thread: ") + e.what());
    }
  }
  workers_.clear();
}

void Encoder::submit(Batch batch) noexcept {
  {
    std::unique_lock lock(mutex_);
    if (started_ && !stopped_) {
      room_ready_.wait(lock, [&] { return jobs_.size() < max_waiting_ || stopping_; });
      if (!stopping_) {
        try {
          jobs_.push_back(Job{std::move(batch), false, false});
          lock.unlock();
          work_ready_.notify_one();
          return;
        } catch (const std::exception&) {
          // No memory for the job: encode it here instead, after what is queued.
          room_ready_.wait(lock, [&] { return jobs_.empty(); });
        }
      }
    }
  }
  // No workers (never started, none configured, or stopped): encode on this thread.
  if (encode_batch(batch)) next_.submit(std::move(batch));
}

bool Encoder::ready_for_batch() const noexcept {
  {
    std::lock_guard lock(mutex_);
    if (started_ && !stopped_) {
      const std::uint64_t untaken = front_ticket_ + jobs_.size() - next_to_encode_;
      if (untaken != 0 || busy_workers_ >= config_.threads) return false;
    }
  }
  return next_.ready_for_batch();
}

void Encoder::work() noexcept {
  std::unique_lock lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [&] { return next_to_encode_ < front_ticket_ + jobs_.size() || stopping_; });
    if (next_to_encode_ == front_ticket_ + jobs_.size()) return;  // stopping, nothing left to take
    Job& job = jobs_[static_cast<std::size_t>(next_to_encode_ - front_ticket_)];
    ++next_to_encode_;
    ++busy_workers_;
    lock.unlock();
    const bool encoded = encode_batch(job.batch);
    lock.lock();
    job.encoded = true;
    job.dropped = !encoded;
    hand_on_ready(lock);
    --busy_workers_;  // only now: a worker handing batches on cannot take new work
  }
}

void Encoder::hand_on_ready(std::unique_lock<std::mutex>& lock) noexcept {
  if (handing_on_) return;  // that thread will see this job once it reaches the front
  handing_on_ = true;
  while (!jobs_.empty() && jobs_.front().encoded) {
    Batch batch = std::move(jobs_.front().batch);
    const bool dropped = jobs_.front().dropped;
    jobs_.pop_front();
    ++front_ticket_;
    room_ready_.notify_all();
    lock.unlock();
    if (!dropped) next_.submit(std::move(batch));
    lock.lock();
  }
  handing_on_ = false;
}

bool Encoder::encode_batch(Batch& batch) noexcept {
  const Compression encoding = next_.encoding();
  try {
    encode(batch, encoding, config_.zstd_level);
    charge_body(batch, accounting_.budget());
    accounting_.budget().note_body(batch.body.size(), batch.budget_bytes());
    return true;
  } catch (const std::exception& e) {
    errors_.report("encoder", "encode",
                   std::string("could not compress a batch (") + e.what() + "); sending it uncompressed");
  }
  try {
    encode(batch, Compression::none, config_.zstd_level);
    charge_body(batch, accounting_.budget());
    accounting_.budget().note_body(batch.body.size(), batch.budget_bytes());
    return true;
  } catch (const std::exception& again) {
    // Only an allocation failure gets here; count the rows rather than lose them silently.
    accounting_.dropped(batch, DropReason::invalid);
    errors_.report("encoder", "encode", std::string("dropped a batch that could not be encoded: ") + again.what());
    return false;
  }
}

}  // namespace spanline::detail
