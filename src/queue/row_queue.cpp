#include "queue/row_queue.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <unordered_set>

namespace spanline::detail {
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
  if (live_queues.count(instance_id) != 0) token.reset();
  else (void)token.release();  // the queue is gone, and with it what the token points to
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
    : queue_(1024), consumer_token_(queue_), instance_id_(next_instance_id.fetch_add(1, std::memory_order_relaxed)) {
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
    return queue_.enqueue(*cached.token, std::move(row));
  } catch (const std::bad_alloc&) {
    return false;
  }
}

bool RowQueue::pop_one(Row& out) noexcept { return queue_.try_dequeue(out); }

std::size_t RowQueue::pop_bulk(Row* out, std::size_t max, std::chrono::microseconds wait) noexcept {
  if (wait.count() <= 0) return queue_.try_dequeue_bulk(consumer_token_, out, max);
  return queue_.wait_dequeue_bulk_timed(consumer_token_, out, max, wait);
}

void RowQueue::wake() noexcept {
  // An empty row is the batcher's wake-up sentinel: it carries no data and no budget.
  (void)queue_.enqueue(Row{});
}

}  // namespace spanline::detail
