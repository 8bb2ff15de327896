#include "accounting/memory_budget.hpp"

#include <algorithm>
#include <unordered_map>

namespace spanline::detail {
namespace {

std::atomic<std::uint64_t> next_instance_id{1};

// Budgets alive right now, by instance id: a thread's credit may outlive its budget,
// and is handed back only to a budget known to be alive. Leaked on purpose, so that a
// budget destroyed during static destruction still finds it.
std::mutex& live_budgets_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
std::unordered_map<std::uint64_t, MemoryBudget*>& live_budgets() {
  static auto* budgets = new std::unordered_map<std::uint64_t, MemoryBudget*>;
  return *budgets;
}

std::uint64_t chunk_of(std::uint64_t max, std::uint64_t cap, std::uint64_t minimum) {
  const std::uint64_t chunk = std::min(max / 256, cap);
  return chunk >= minimum ? chunk : 0;
}

}  // namespace

// One thread's credit for the last few budgets it used, most recent first. Trivially
// destructible thread_locals (no guard on the hot path, still readable while other
// thread_local destructors run); a separate object hands the credit back at exit.
struct CreditCache {
  struct Entry {
    std::uint64_t budget_id = 0;  // 0: empty (instance ids start at 1)
    std::uint64_t bytes = 0;
    std::uint64_t rows = 0;
  };
  static constexpr std::size_t kEntries = 4;
  static thread_local Entry entries[kEntries];
  static thread_local bool exiting;

  struct Returner {
    ~Returner() {
      exiting = true;
      for (Entry& entry : entries) give_back(entry);
    }
  };

  static void give_back(Entry& entry) noexcept {
    if (entry.budget_id != 0 && (entry.bytes != 0 || entry.rows != 0)) {
      std::lock_guard lock(live_budgets_mutex());
      const auto live = live_budgets().find(entry.budget_id);
      if (live != live_budgets().end()) live->second->release(entry.bytes, entry.rows);
    }
    entry = Entry{};
  }

  static bool refill_and_take(MemoryBudget& budget, std::uint64_t bytes) noexcept {
    thread_local Returner returner;  // first refill on this thread: hand credit back at exit
    (void)returner;
    // This budget's entry, or the least recent one (its credit handed back) in its place.
    std::size_t index = 0;
    while (index + 1 < kEntries && entries[index].budget_id != budget.instance_id_) ++index;
    if (entries[index].budget_id != budget.instance_id_) {
      give_back(entries[index]);
      entries[index].budget_id = budget.instance_id_;
    }
    std::rotate(entries, entries + index, entries + index + 1);  // to the front
    Entry& entry = entries[0];
    // Top the credit up to one chunk (or to this row, when it alone is bigger).
    const std::uint64_t want_bytes = std::max(bytes, budget.credit_bytes_);
    const std::uint64_t more_bytes = want_bytes > entry.bytes ? want_bytes - entry.bytes : 0;
    const std::uint64_t more_rows = budget.credit_rows_ > entry.rows ? budget.credit_rows_ - entry.rows : 0;
    if (!budget.take_chunk(more_bytes, more_rows)) return budget.try_acquire(bytes);
    entry.bytes += more_bytes;
    entry.rows += more_rows;
    entry.bytes -= bytes;
    entry.rows -= 1;
    return true;
  }
};

thread_local CreditCache::Entry CreditCache::entries[CreditCache::kEntries];
thread_local bool CreditCache::exiting = false;

MemoryBudget::MemoryBudget(std::uint64_t max_bytes, std::uint64_t max_rows)
    : max_bytes_(max_bytes),
      max_rows_(max_rows),
      credit_bytes_(chunk_of(max_bytes, kMaxCreditBytes, kMinCreditBytes)),
      credit_rows_(credit_bytes_ == 0 ? 0 : chunk_of(max_rows, kMaxCreditRows, kMinCreditRows)),
      instance_id_(next_instance_id.fetch_add(1, std::memory_order_relaxed)) {
  std::lock_guard lock(live_budgets_mutex());
  live_budgets().emplace(instance_id_, this);
}

MemoryBudget::~MemoryBudget() {
  // Wakes never run are dropped unrun: nothing frees room any more.
  std::lock_guard lock(live_budgets_mutex());
  live_budgets().erase(instance_id_);
}

bool MemoryBudget::try_acquire(std::uint64_t bytes) noexcept {
  // Optimistic add, undo on overshoot: one atomic RMW per counter on the common path.
  const std::uint64_t rows_before = rows_.fetch_add(1, std::memory_order_relaxed);
  if (rows_before >= max_rows_) {
    rows_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  const std::uint64_t bytes_before = bytes_.fetch_add(bytes, std::memory_order_relaxed);
  // charge() adds to charged_ first: a racing read can see it ahead of bytes_.
  const std::uint64_t charged = std::min(charged_.load(std::memory_order_relaxed), bytes_before);
  const std::uint64_t rows_bytes_before = bytes_before - charged;
  // A single row larger than the whole budget still gets in when nothing else is held,
  // so an oversized-but-legal row cannot wedge a producer forever.
  if ((bytes_before + bytes > max_bytes_ && bytes_before != 0) ||
      (rows_bytes_before + bytes > row_bytes_limit() && rows_bytes_before != 0)) {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    rows_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool MemoryBudget::try_acquire_from_credit(std::uint64_t bytes) noexcept {
  if (credit_rows_ == 0 || CreditCache::exiting) return try_acquire(bytes);
  CreditCache::Entry& recent = CreditCache::entries[0];
  if (recent.budget_id == instance_id_ && recent.rows != 0 && recent.bytes >= bytes) {
    recent.rows -= 1;
    recent.bytes -= bytes;
    return true;
  }
  return CreditCache::refill_and_take(*this, bytes);
}

bool MemoryBudget::take_chunk(std::uint64_t bytes, std::uint64_t rows) noexcept {
  // Chunks come only from the lower half of the budget: near the bounds every row is
  // admitted on its own, and credit can never hold more than half of the room. A quick
  // look first spares the failed adds (and their undo) while the budget is that full.
  if (rows_.load(std::memory_order_relaxed) + rows > max_rows_ / 2 ||
      bytes_.load(std::memory_order_relaxed) + bytes > max_bytes_ / 2) {
    return false;
  }
  if (rows != 0 && rows_.fetch_add(rows, std::memory_order_relaxed) + rows > max_rows_ / 2) {
    rows_.fetch_sub(rows, std::memory_order_relaxed);
    return false;
  }
  if (bytes != 0 && bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes > max_bytes_ / 2) {
    bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    if (rows != 0) rows_.fetch_sub(rows, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void MemoryBudget::return_credit() noexcept {
  for (CreditCache::Entry& entry : CreditCache::entries) {
    if (entry.budget_id != instance_id_) continue;
    if (entry.bytes != 0 || entry.rows != 0) release(entry.bytes, entry.rows);
    entry = CreditCache::Entry{};
  }
}

bool MemoryBudget::acquire_until(std::uint64_t bytes, std::chrono::steady_clock::time_point deadline) {
  if (try_acquire(bytes)) return true;
  std::unique_lock lock(mutex_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  bool acquired = false;
  while (!closed_.load(std::memory_order_relaxed)) {
    if (try_acquire(bytes)) {
      acquired = true;
      break;
    }
    if (room_freed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      acquired = try_acquire(bytes);
      break;
    }
  }
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return acquired;
}

void MemoryBudget::release(std::uint64_t bytes, std::uint64_t rows) noexcept {
  // seq_cst pairs with the waiter's increment of waiters_: either it sees the room
  // freed here, or this sees it waiting.
  bytes_.fetch_sub(bytes, std::memory_order_seq_cst);
  rows_.fetch_sub(rows, std::memory_order_seq_cst);
  // Waking costs a lock; only pay it when a producer is actually waiting.
  if (waiters_.load(std::memory_order_seq_cst) > 0) run_wakes();
}

void MemoryBudget::charge(std::uint64_t bytes) noexcept {
  charged_.fetch_add(bytes, std::memory_order_relaxed);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

void MemoryBudget::uncharge(std::uint64_t bytes) noexcept {
  charged_.fetch_sub(bytes, std::memory_order_relaxed);
  release(bytes, 0);
}

void MemoryBudget::note_body(std::uint64_t body_bytes, std::uint64_t row_bytes) noexcept {
  if (row_bytes == 0) return;
  // Capped at 1: an uncompressed body is about as large as its rows' JSON.
  const auto sample =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(body_bytes * 1000 / row_bytes, 1000));
  const std::uint32_t average = noted_.exchange(true, std::memory_order_relaxed)
                                    ? body_per_mille_.load(std::memory_order_relaxed)
                                    : sample;
  // An eighth of the new sample: a few batches follow a change of data or encoding.
  // Two encoder threads racing here lose one sample, nothing more.
  body_per_mille_.store((average * 7 + sample) / 8, std::memory_order_relaxed);
}

std::uint64_t MemoryBudget::row_bytes_limit() const noexcept {
  // max * 1000 / (1000 + r), without the product's overflow; exactly max while r is 0.
  const std::uint64_t per_mille = body_per_mille_.load(std::memory_order_relaxed);
  return max_bytes_ - max_bytes_ / (1000 + per_mille) * per_mille;
}

void MemoryBudget::run_wakes() noexcept {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(mutex_);
    room_freed_.notify_all();
    wakes.swap(wakes_);
    waiters_.fetch_sub(static_cast<int>(wakes.size()), std::memory_order_relaxed);
  }
  // Outside the lock: a wake may register again, and it must never run under ours.
  for (auto& wake : wakes) {
    try {
      wake();
    } catch (...) {
      // A wake must not throw (documented); one that does loses only its own notice.
    }
  }
}

void MemoryBudget::notify_when_room(std::function<void()> wake) {
  {
    std::lock_guard lock(mutex_);
    if (!closed_.load(std::memory_order_relaxed)) {
      wakes_.push_back(std::move(wake));
      // seq_cst pairs with release(): either it sees this registration, or the caller's
      // try after this call sees the room that release() freed.
      waiters_.fetch_add(1, std::memory_order_seq_cst);
      return;
    }
  }
  wake();
}

void MemoryBudget::close() noexcept {
  closed_.store(true, std::memory_order_seq_cst);
  run_wakes();
}

}  // namespace spanline::detail
