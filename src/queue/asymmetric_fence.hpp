#pragma once
// The two halves of a Dekker-style handshake where one side runs on every log call
// (a producer: "I am inside", "I queued a row") and the other rarely (shutdown closing
// the gate, the batcher falling asleep). Each side stores, fences, then loads what the
// other stored; without the fences either could miss the other.
//
// On Linux the rare side issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which
// runs a full barrier on every thread of the process, so the frequent side needs only
// a compiler barrier: the store-buffer drain a real fence costs a producer (the
// row it just wrote is still in flight to memory) goes away. Where membarrier is
// unavailable both sides use std::atomic_thread_fence(seq_cst).
//
// Under ThreadSanitizer, which models neither of those fences, both sides instead do a
// seq_cst read-modify-write of one shared atomic. The RMWs are totally ordered, and the
// later one synchronizes with the earlier, so the side that comes second sees what the
// first stored: the same guarantee, in a form TSan follows.

#include "queue/thread_sanitizer.hpp"

#include <atomic>

namespace spanline::detail {

// Registers the process for membarrier; true when heavy_fence() can use it. Called
// once, through asymmetric_fences_available(): both sides must see the one answer.
bool register_for_asymmetric_fences() noexcept;

// True when heavy_fence() uses membarrier; decided once per process (by the first
// caller), never changes. Inline: light_fence() runs on every log call.
inline bool asymmetric_fences_available() noexcept {
  static const bool available = register_for_asymmetric_fences();
  return available;
}

#if SPANLINE_THREAD_SANITIZER
// The one atomic both sides' fences go through in a TSan build.
inline std::atomic<unsigned>& sanitizer_fence_word() noexcept {
  static std::atomic<unsigned> word{0};
  return word;
}
#endif

// The frequent side's fence.
inline void light_fence() noexcept {
#if SPANLINE_THREAD_SANITIZER
  (void)sanitizer_fence_word().fetch_add(1, std::memory_order_seq_cst);
#else
  if (asymmetric_fences_available())
    std::atomic_signal_fence(std::memory_order_seq_cst);
  else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// The rare side's fence: a system call (a few microseconds) where available.
void heavy_fence() noexcept;

}  // namespace spanline::detail
