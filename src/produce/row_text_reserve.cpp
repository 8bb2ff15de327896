#include "produce/row_text_reserve.hpp"

#include "core/wall_clock.hpp"

#include <array>
#include <new>
#include <utility>

namespace spanline::detail {
namespace {

// Below this the string's inline buffer holds the text: there is nothing to reserve.
constexpr std::size_t kSmallestSpare = 2 * sizeof(std::string);

struct SparePool {
  std::array<std::string, RowTextReserve::kPoolSize> spares;
};

// Trivially destructible thread_locals: no guard on the hot path, and still safe to
// read from a later thread_local destructor (one may end a Span and log a row). The
// pool's strings are freed by a separate object when the thread exits. The count and
// the flag live beside the other thread_locals the call touches, not in the pool.
thread_local SparePool* pool = nullptr;
thread_local std::size_t spare_count_ = 0;  // pool->spares[0, spare_count_) hold a buffer each
thread_local bool spare_for_next_row = false;  // prepare() found a pause: take() hands one out
thread_local bool exiting = false;

struct PoolReturner {
  ~PoolReturner() {
    exiting = true;
    spare_count_ = 0;
    delete pool;
    pool = nullptr;
  }
};

SparePool* this_thread_pool() noexcept {
  if (pool != nullptr || exiting) return pool;
  try {
    thread_local PoolReturner returner;  // this thread's first pool: freed at exit
    (void)returner;
    pool = new SparePool;
  } catch (const std::bad_alloc&) {
    // No pool: rows allocate their own text.
  }
  return pool;
}

}  // namespace

void RowTextReserve::prepare(std::size_t size, bool after_pause) noexcept {
  spare_for_next_row = after_pause;
  if (after_pause || spare_count_ == kPoolSize || size < kSmallestSpare) return;
  // The call after a pause (or a thread's first): put back one spare. In steady state
  // the pool is full and nothing is allocated here.
  SparePool* const spares = this_thread_pool();
  if (spares == nullptr) return;
  try {
    spares->spares[spare_count_].reserve(capacity_for(size));
    ++spare_count_;
  } catch (const std::bad_alloc&) {
    // No spare this time; a later call tries again.
  }
}

void RowTextReserve::prepare(std::size_t size) noexcept {
  // The clock read for this row tells, for free, how long the thread was idle. Rows that
  // read no clock (merge rows) see no pause and allocate as before.
  prepare(size, take_wall_clock_pause());
}

bool RowTextReserve::take(std::string& out, std::size_t size) noexcept {
  if (!spare_for_next_row) [[likely]]
    return false;
  spare_for_next_row = false;
  if (spare_count_ == 0) return false;
  std::string& spare = pool->spares[spare_count_ - 1];
  if (!fits(spare.capacity(), size)) return false;
  --spare_count_;
  out = std::move(spare);  // leaves it empty, with its inline buffer only
  out.clear();
  return true;
}

std::size_t RowTextReserve::spare_count() noexcept { return spare_count_; }

std::size_t RowTextReserve::spare_capacity() noexcept {
  return spare_count_ == 0 ? 0 : pool->spares[spare_count_ - 1].capacity();
}

}  // namespace spanline::detail
