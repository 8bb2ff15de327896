#pragma once
// Spare row-text buffers per thread, so that the first row after a pause is written
// without a call to malloc.
//
// Why: a row's text is freed on the batcher's or the sender's thread, so malloc serves
// this thread's next row from memory another core wrote last, behind the arena's lock:
// a chain of dependent cache misses. After a producer sleeps that chain, run cold, is
// a large part of its next log() call. So a thread keeps up to kPoolSize spares: the
// first row after a pause takes one and allocates nothing, and the next call (warm by
// then) puts one back. Rows in steady state allocate their own text, as without a pool:
// a buffer allocated ahead costs an extra miss there (malloc reads the freed chunk's
// link, and the row's stores then go to other lines).
//
// A spare is allocated before its call writes any row text: a locked instruction after
// those stores (malloc may take its arena's lock) would wait for every one of them.
//
// Thread safety: each thread sees only its own pool; nothing is shared.

#include <cstddef>
#include <string>

namespace spanline::detail {

class RowTextReserve {
 public:
  static constexpr std::size_t kPoolSize = 2;

  // Called before a row of `size` characters is written, before any store of its call.
  // `after_pause`: the row may take a spare. Otherwise, when the pool lacks one, puts
  // back one sized for rows like this. A failed allocation leaves the pool as it was.
  static void prepare(std::size_t size, bool after_pause) noexcept;

  // prepare() with `after_pause` from this thread's wall clock: true when the clock read
  // for this row came after a pause (take_wall_clock_pause(), wall_clock.hpp).
  static void prepare(std::size_t size) noexcept;

  // After a prepare() that found a pause: moves this thread's next spare into `out`
  // (empty, room for `size` characters) when its capacity suits a row of `size` (no
  // more than a quarter plus 128 bytes over, so the budget's count of the row stays
  // close to the memory it holds), and returns true. Otherwise false, `out` untouched:
  // the caller allocates as before.
  static bool take(std::string& out, std::size_t size) noexcept;

  // This thread's spares, and the capacity of the next one (0 when none). For tests.
  static std::size_t spare_count() noexcept;
  static std::size_t spare_capacity() noexcept;

  // The capacity a spare for rows like one of `size` characters gets: a little
  // headroom, so rows of one shape whose numbers and texts vary a few bytes still fit.
  static constexpr std::size_t capacity_for(std::size_t size) noexcept {
    return (size + size / 8) | 63;  // with the terminator, a whole number of cache lines
  }
  static constexpr bool fits(std::size_t capacity, std::size_t size) noexcept {
    return capacity >= size && capacity - size <= size / 4 + 128;
  }
};

}  // namespace spanline::detail
