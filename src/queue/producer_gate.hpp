#pragma once
// The gate producers pass through on their way to the queue. Once shutdown closes it,
// no producer gets in, and close_and_wait() returns only after every producer that
// got in before has left: no row can slip into the queue once the final drain begins.
//
// A producer marks itself inside on a record of its own thread (one cache line each,
// shared by no other thread) and fences with light_fence(); close_and_wait() does the
// heavy fence and then looks at every thread's record. A log call therefore touches no
// shared cache line and drains no store buffer here, at entry or exit; closing costs a
// membarrier call and a walk over the threads that ever logged.

#include <atomic>
#include <cstddef>

namespace spanline::detail {

class ProducerGate {
 public:
  static constexpr std::size_t kCacheLine = 64;

  // One per thread that ever passed a gate, reused after the thread exits.
  struct alignas(kCacheLine) ThreadRecord {
    std::atomic<const ProducerGate*> inside{nullptr};  // the gate this thread is in, if any
    std::atomic<bool> in_use{false};                   // owned by a live thread
    ThreadRecord* next = nullptr;                      // the process-wide list, never shrinks
  };

  // Held for as long as a producer is inside; false when the gate was closed. One per
  // thread at a time (producers do not nest).
  class [[nodiscard]] Pass {
   public:
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;
    ~Pass() { record_.inside.store(nullptr, std::memory_order_release); }
    explicit operator bool() const noexcept { return admitted_; }

   private:
    friend class ProducerGate;
    Pass(ThreadRecord& record, bool admitted) noexcept : record_(record), admitted_(admitted) {}
    ThreadRecord& record_;
    const bool admitted_;
  };

  ProducerGate() = default;
  ProducerGate(const ProducerGate&) = delete;
  ProducerGate& operator=(const ProducerGate&) = delete;

  Pass enter() noexcept;
  bool closed() const noexcept { return closed_.load(std::memory_order_seq_cst); }
  // Closes the gate, then waits (yielding) until no producer is inside. Safe to call twice.
  void close_and_wait() noexcept;

 private:
  // Read by every producer, written once: on a line of its own.
  alignas(kCacheLine) std::atomic<bool> closed_{false};
};

}  // namespace spanline::detail
