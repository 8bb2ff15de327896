#include "queue/row_queue.hpp"

#include "queue/asymmetric_fence.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_set>

#if defined(__SANITIZE_ADDRESS__)
#define SPANLINE_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPANLINE_ADDRESS_SANITIZER 1
#endif
#endif
#ifndef SPANLINE_ADDRESS_SANITIZER
#define SPANLINE_ADDRESS_SANITIZER 0
#endif
#if SPANLINE_ADDRESS_SANITIZER
#include <sanitizer/lsan_interface.h>
#endif

namespace spanline::detail {

#if SPANLINE_THREAD_SANITIZER

// The locked deque of a ThreadSanitizer build (row_queue.hpp says why).

RowQueue::RowQueue() : wakeups_(0, /*maxSpins=*/0), instance_id_(0) {}

RowQueue::~RowQueue() = default;

std::size_t RowQueue::size_approx() const noexcept {
  std::lock_guard lock(rows_mutex_);
  return rows_.size();
}

bool RowQueue::push(Row&& row) noexcept {
  try {
    std::lock_guard lock(rows_mutex_);
    rows_.push_back(std::move(row));
  } catch (const std::bad_alloc&) {
    return false;
  }
  light_fence();
  if (consumer_waits_for_push_.load(std::memory_order_relaxed) &&
      consumer_waits_for_push_.exchange(false, std::memory_order_acq_rel)) {
    wakeups_.signal();
  }
  return true;
}

bool RowQueue::pop_one(Row& out) noexcept { return try_pop_bulk(&out, 1) == 1; }

std::size_t RowQueue::try_pop_bulk(Row* out, std::size_t max) noexcept {
  std::lock_guard lock(rows_mutex_);
  std::size_t n = 0;
  for (; n < max && !rows_.empty(); ++n) {
    out[n] = std::move(rows_.front());
    rows_.pop_front();
  }
  return n;
}

void RowQueue::wake() noexcept {
  try {
    std::lock_guard lock(rows_mutex_);
    rows_.emplace_back();
  } catch (const std::bad_alloc&) {
    // The signal below still wakes the consumer; it finds the queue as it is.
  }
  wakeups_.signal();
}

#else  // moodycamel's lock-free queue

namespace {

std::atomic<std::uint64_t> next_instance_id{1};

// Queues alive right now, by instance id. A thread's cached producer token may
// outlive its queue; its destructor would then touch freed memory, so a token is
// destroyed only while its queue is known to be alive (and leaked otherwise).
std::mutex live_queues_mutex;
std::unordered_set<std::uint64_t> live_queues;

void discard_token(std::uint64_t instance_id, std::unique_ptr<moodycamel::ProducerToken>& token) {
  if (!token) return;
  std::lock_guard lock(live_queues_mutex);
  if (live_queues.count(instance_id) != 0) {
    token.reset();
    return;
  }
  // The queue is gone, and with it what the token points to: the token is leaked on
  // purpose, and LeakSanitizer is told so (or every test that outlives a logger fails).
#if SPANLINE_ADDRESS_SANITIZER
  __lsan_ignore_object(token.get());
#endif
  (void)token.release();
}

// One producer token per thread for the queue it last used: enqueueing with a token
// skips moodycamel's implicit-producer lookup.
struct CachedToken {
  std::uint64_t instance_id = 0;
  std::unique_ptr<moodycamel::ProducerToken> token;
  ~CachedToken() { discard_token(instance_id, token); }
};

}  // namespace

RowQueue::RowQueue()
    : queue_(1024),
      consumer_token_(queue_),
      wakeups_(0, /*maxSpins=*/0),  // the consumer has nothing to spin for: it sleeps or polls
      instance_id_(next_instance_id.fetch_add(1, std::memory_order_relaxed)) {
  std::lock_guard lock(live_queues_mutex);
  live_queues.insert(instance_id_);
}

RowQueue::~RowQueue() {
  std::lock_guard lock(live_queues_mutex);
  live_queues.erase(instance_id_);
}

bool RowQueue::push(Row&& row) noexcept {
  thread_local CachedToken cached;
  try {
    if (cached.instance_id != instance_id_) {
      discard_token(cached.instance_id, cached.token);
      cached.token = std::make_unique<moodycamel::ProducerToken>(queue_);
      cached.instance_id = instance_id_;
    }
    if (!queue_.enqueue(*cached.token, std::move(row))) return false;
  } catch (const std::bad_alloc&) {
    return false;
  }
  // Pairs with the heavy fence in pop_bulk: either the consumer's last look at the queue
  // saw this row, or this sees the consumer waiting and wakes it. The light side costs
  // no store-buffer drain, which here would wait for the row just written.
  light_fence();
  if (consumer_waits_for_push_.load(std::memory_order_relaxed) &&
      consumer_waits_for_push_.exchange(false, std::memory_order_acq_rel)) {
    wakeups_.signal();
  }
  return true;
}

bool RowQueue::pop_one(Row& out) noexcept { return queue_.try_dequeue(out); }

std::size_t RowQueue::try_pop_bulk(Row* out, std::size_t max) noexcept {
  return queue_.try_dequeue_bulk(consumer_token_, out, max);
}

void RowQueue::wake() noexcept {
  // An empty row is the batcher's wake-up sentinel: it carries no data and no budget.
  try {
    (void)queue_.enqueue(Row{});
  } catch (const std::bad_alloc&) {
    // The signal below still wakes the consumer; it finds the queue as it is.
  }
  wakeups_.signal();
}

#endif

// Shared by both queues: the handshake with producers when the consumer falls asleep.
std::size_t RowQueue::pop_bulk(Row* out, std::size_t max, std::chrono::microseconds wait, WakeOn wake_on) noexcept {
  std::size_t n = try_pop_bulk(out, max);
  if (n != 0 || wait.count() <= 0) return n;
  if (wake_on == WakeOn::push) {
    consumer_waits_for_push_.store(true, std::memory_order_relaxed);
    heavy_fence();  // the rare side: only when the consumer falls asleep
    n = try_pop_bulk(out, max);  // a push that raced the flag
    if (n != 0) {
      consumer_waits_for_push_.store(false, std::memory_order_relaxed);
      return n;
    }
  }
  (void)wakeups_.wait(wait.count());
  // A producer that cleared the flag has signalled or is about to: that signal only
  // makes a later wait return early, which costs one extra look at the queue.
  consumer_waits_for_push_.store(false, std::memory_order_relaxed);
  return try_pop_bulk(out, max);
}

}  // namespace spanline::detail
