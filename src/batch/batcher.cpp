#include "batch/batcher.hpp"

#include "batch/prefetch.hpp"
#include "core/thread_name.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>

namespace spanline::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Rows taken from the queue per drain: enough to amortize the queue's per-call cost,
// small enough that a flush or a linger deadline is noticed soon.
constexpr std::size_t kDrainRows = 1024;

// How long to sleep when the logger is idle: the next push wakes the batcher, this only
// bounds how late a missed wake-up could be noticed.
constexpr std::chrono::microseconds kIdleWait{100'000};

// While rows flow, the batcher looks at the queue on its own timer this often instead
// of being woken by pushes: a wake-up is a futex call on the caller's thread, and a
// poll is far cheaper than one per row. Rows wait at most this long before they join
// a batch (where they linger anyway, 20 ms by default).
// Not shorter: each poll is a thread waking on a core the application's threads may be
// running on, and frequent wake-ups preempt callers mid-call, which shows in the tail of
// the caller's cost (BM_LogCallLatency).
constexpr std::chrono::microseconds kPollInterval{5'000};

// How long after the last row the batcher keeps polling before it sleeps until a push
// wakes it: traffic with gaps shorter than this never pays for a wake-up.
constexpr std::chrono::milliseconds kStayAwake{1'000};

// How many rows ahead step() asks for a row's id to be cached. The producer thread wrote
// it on another core; the coalescer's first look at it (hashing the id) would otherwise
// wait for it, once per row.
constexpr std::size_t kPrefetchRows = 8;

void prefetch_id(const Row& row) noexcept {
  if (row.id_size != 0 && row.id_offset < row.json.size()) prefetch_line(row.json.data() + row.id_offset);
}

}  // namespace

Batcher::Batcher(BatcherConfig config, RowQueue& queue, BatchSink& sink, Accounting& accounting,
                 ErrorReporter& errors, Backlog* backlog, SettledEvents* settled)
    : config_(config),
      queue_(queue),
      sink_(sink),
      accounting_(accounting),
      errors_(errors),
      queue_backlog_(backlog),
      settled_(settled),
      buffer_(kDrainRows) {}

Batcher::~Batcher() { stop(); }

void Batcher::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_ || stopped_) return;
  thread_ = std::thread([this] {
    name_this_thread("sl-batcher");
    run();
  });
  started_ = true;
}

void Batcher::begin_flush() noexcept {
  flushes_pending_.fetch_add(1, std::memory_order_acq_rel);
  queue_.wake();
}

void Batcher::end_flush() noexcept { flushes_pending_.fetch_sub(1, std::memory_order_acq_rel); }

void Batcher::stop() noexcept {
  bool had_thread = false;
  {
    std::lock_guard lock(lifecycle_mutex_);
    if (stopped_) return;
    stopped_ = true;
    had_thread = started_;
  }
  stopping_.store(true, std::memory_order_release);
  queue_.wake();
  if (!had_thread) {
    run();  // never started: drain on this thread
    return;
  }
  try {
    thread_.join();
  } catch (const std::exception& e) {
    errors_.report("batcher", "join", std::string("could not join the batcher thread: ") + e.what());
  }
}

void Batcher::run() noexcept {
  while (true) {
    try {
      if (!step()) break;
    } catch (const std::exception& e) {
      errors_.report("batcher", "internal", std::string("batcher error: ") + e.what());
    } catch (...) {
      errors_.report("batcher", "internal", "batcher error: unknown exception");
    }
  }
  try {
    close_all();
  } catch (const std::exception& e) {
    errors_.report("batcher", "internal", std::string("batcher error while closing: ") + e.what());
  } catch (...) {
    errors_.report("batcher", "internal", "batcher error while closing: unknown exception");
  }
}

bool Batcher::step() {
  if (settled_ != nullptr) settled_->free_all();
  const bool stopping = stopping_.load(std::memory_order_acquire);
  RowQueue::WakeOn wake_on = RowQueue::WakeOn::push;
  const auto wait = stopping ? std::chrono::microseconds(0) : next_wait(Clock::now(), wake_on);
  const std::size_t n = queue_.pop_bulk(buffer_.data(), buffer_.size(), wait, wake_on);

  const auto now = Clock::now();
  backlog_ = n == buffer_.size();
  if (n != 0) last_rows_.mark(now);
  read_limits();
  // Before the rows are added: adding them may wait for the encoder (a batch closes),
  // and producers should know by then that the batcher is behind.
  report_backlog(n);
  for (std::size_t i = 0; i < std::min(n, kPrefetchRows); ++i) prefetch_id(buffer_[i]);
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kPrefetchRows < n) prefetch_id(buffer_[i + kPrefetchRows]);
    Row& row = buffer_[i];
    if (row.json.empty()) continue;  // wake-up sentinel
    add_row(std::move(row), now);
  }

  // Stopping: keep draining, and close everything once the queue is empty (run() does),
  // so rows with the same id still meet in one batch.
  if (stopping) return n != 0;
  // Close what is due. A pending flush closes everything right after a drain that
  // emptied the queue (took less than a full buffer): lingering would only delay what
  // the caller waits for, and closing mid-backlog would only make smaller batches.
  const bool close_everything = !backlog_ && flushes_pending_.load(std::memory_order_acquire) > 0;
  // A batch past its linger closes only when the sink can start sending it now. While
  // the host is paused (429) or every request slot is busy, the batch keeps growing up
  // to its size limits instead: a queue of small batches behind a pause would each cost
  // a request (and maybe another 429) later. For the same reason it keeps growing while
  // the host is rate-limited, even between pauses: every request the host allows should
  // carry a full body. That lasts only as long as the sink's window after the last 429,
  // and a flush still closes everything.
  std::optional<bool> sink_ready;  // asked once per step, and only when a batch is due
  const auto due = [&](const Coalescer& batch) {
    if (close_everything) return true;
    if (now - batch.opened() < config_.linger) return false;
    if (!sink_ready) sink_ready = !rate_limited_ && sink_.ready_for_batch();
    return *sink_ready;
  };
  for (std::size_t k = 0; k < active_.size();) {
    Open& open = open_[active_[k]];
    if (!open.batch->empty() && due(*open.batch)) close(*open.batch);
    if (open.batch->empty()) {
      open.active = false;
      active_[k] = active_.back();
      active_.pop_back();
    } else {
      ++k;
    }
  }
  return true;
}

void Batcher::report_backlog(std::size_t drained) noexcept {
  if (queue_backlog_ == nullptr) return;
  // Rows still queued, at the average size of the rows just drained (or of the last
  // drain that found some): an estimate, and enough for a limit with slack both ways.
  if (drained != 0) {
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < drained; ++i) bytes += buffer_[i].json.size();
    average_row_bytes_ = bytes / drained;
  }
  queue_backlog_->update(queue_.size_approx() * average_row_bytes_);
}

void Batcher::read_limits() noexcept {
  payload_limit_ = sink_.payload_limit();
  // 0 means the sink does not know a limit yet: batch_max_bytes alone applies.
  if (payload_limit_ == 0) {
    limit_ = config_.batch_max_bytes;
    rate_limited_ = false;
    return;
  }
  // The host limits requests, not bytes: while it does (a recent 429, batches waiting at
  // the sender), a batch as large as the server takes carries the most rows per request.
  // Otherwise batch_max_bytes keeps each batch quick to encode and send. A deep row queue
  // alone does not grow batches: with the sender keeping up, larger batches only hold
  // more of the memory budget at once, and producers wait for it.
  rate_limited_ = sink_.rate_limited();
  // Never grown to a limit the server was not asked about yet (the 6 MiB guess).
  const bool grow = rate_limited_ && sink_.payload_limit_known();
  limit_ = grow ? payload_limit_ : std::min(config_.batch_max_bytes, payload_limit_);
}

void Batcher::add_row(Row&& row, Clock::time_point now) {
  if (payload_limit_ != 0 && row.json.size() + kEnvelopeBytes > payload_limit_) {
    // The logger refuses such rows at log time; this catches any that slip through
    // (e.g. the limit learned from the server shrank since).
    BatchEvent event;
    event.budget_bytes = row.budget_bytes();
    event.json = std::move(row.json);
    accounting_.dropped_event(event, DropReason::too_large);
    errors_.report("batcher", "too-large",
                   "dropped a row of " + std::to_string(event.json.size()) +
                       " bytes: larger than the server's payload limit of " + std::to_string(payload_limit_) +
                       " bytes");
    return;
  }
  Coalescer& batch = open_batch(row.destination);
  if (!batch.empty() && batch.body_size() + 1 + row.json.size() > limit_) close(batch);
  batch.add(std::move(row), now, accounting_.counters());
  if (batch.event_count() >= config_.batch_max_rows || batch.body_size() >= limit_) close(batch);
}

Coalescer& Batcher::open_batch(std::uint32_t destination) {
  if (destination >= open_.size()) open_.resize(std::size_t{destination} + 1);
  Open& open = open_[destination];
  if (!open.batch) open.batch = std::make_unique<Coalescer>(destination);
  if (!open.active) {
    open.active = true;
    active_.push_back(destination);
  }
  return *open.batch;
}

void Batcher::close(Coalescer& open) {
  Batch batch = open.take();
  if (batch.events.empty()) return;
  // Merging rows can grow an event past what was checked when it was added (numbers
  // are re-serialized); split rather than send a body the server refuses.
  if (payload_limit_ == 0 || batch.body_size() <= payload_limit_) {
    sink_.submit(std::move(batch));
    return;
  }
  for (Batch& part : split_to_limit(std::move(batch), payload_limit_)) {
    if (part.events.size() == 1 && part.body_size() > payload_limit_) {
      accounting_.dropped_event(part.events.front(), DropReason::too_large);
      errors_.report("batcher", "too-large",
                     "dropped an event of " + std::to_string(part.events.front().json.size()) +
                         " bytes (merged rows): larger than the server's payload limit of " +
                         std::to_string(payload_limit_) + " bytes");
      continue;
    }
    sink_.submit(std::move(part));
  }
}

void Batcher::close_all() {
  for (const std::uint32_t destination : active_) {
    Open& open = open_[destination];
    if (!open.batch->empty()) close(*open.batch);
    open.active = false;
  }
  active_.clear();
}

std::chrono::microseconds Batcher::next_wait(Clock::time_point now, RowQueue::WakeOn& wake_on) const {
  using std::chrono::microseconds;
  if (backlog_) return microseconds(0);  // the last drain filled the buffer: more is waiting
  bool any_open = false;
  auto until_due = microseconds::max();  // until the first open batch's linger ends
  for (const std::uint32_t destination : active_) {
    const Coalescer& batch = *open_[destination].batch;
    if (batch.empty()) continue;
    any_open = true;
    until_due =
        std::min(until_due, std::chrono::duration_cast<microseconds>(batch.opened() + config_.linger - now));
  }
  const auto poll =
      std::min<microseconds>(kPollInterval, std::chrono::duration_cast<microseconds>(config_.linger));
  if (any_open) {
    // A flush waits for the open batches: look at the queue without blocking, then close.
    if (flushes_pending_.load(std::memory_order_acquire) > 0) return microseconds(0);
    wake_on = RowQueue::WakeOn::explicit_wake;
    // Past due means held back for a busy sink: look again after a poll interval.
    if (until_due <= microseconds(0)) return std::max(poll, microseconds(100));
    return std::clamp(until_due, microseconds(1), std::max(poll, microseconds(1)));
  }
  if (poll > microseconds(0) && !last_rows_.passed(now, kStayAwake)) {
    wake_on = RowQueue::WakeOn::explicit_wake;
    return poll;
  }
  wake_on = RowQueue::WakeOn::push;
  return kIdleWait;
}

}  // namespace spanline::detail
