#pragma once
// A counter that many threads add to at once. Each thread adds to its own cache line
// and a reader sums the lines, so adding never waits for a line another core holds.
// Made for rows_in, which every log call bumps: as one shared atomic it bounced
// between the producers, and between them and the batcher and sender, which write the
// counters stored next to it.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace spanline::detail {

class StripedCounter {
 public:
  // The member names of std::atomic, so code written against one reads the same.
  void fetch_add(std::uint64_t n, std::memory_order order = std::memory_order_seq_cst) noexcept {
    mine().fetch_add(n, order);
  }
  // May take a stripe below zero (it wraps); the sum is what counts and it stays exact.
  void fetch_sub(std::uint64_t n, std::memory_order order = std::memory_order_seq_cst) noexcept {
    mine().fetch_sub(n, order);
  }
  // The sum. Not a snapshot of one instant: an add racing with it may be seen or not,
  // like a load racing with the add of a plain atomic.
  std::uint64_t load(std::memory_order order = std::memory_order_seq_cst) const noexcept {
    std::uint64_t sum = 0;
    for (const Stripe& stripe : stripes_) sum += stripe.value.load(order);
    return sum;
  }

 private:
  static constexpr std::size_t kStripes = 16;  // threads beyond that share stripes
  static constexpr std::size_t kCacheLine = 64;

  struct alignas(kCacheLine) Stripe {
    std::atomic<std::uint64_t> value{0};
  };

  static std::size_t this_thread_stripe() noexcept {
    static std::atomic<std::size_t> next_thread{0};
    thread_local const std::size_t stripe = next_thread.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return stripe;
  }
  std::atomic<std::uint64_t>& mine() noexcept { return stripes_[this_thread_stripe()].value; }

  std::array<Stripe, kStripes> stripes_{};
};

}  // namespace spanline::detail
