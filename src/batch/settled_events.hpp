#pragma once
// Settled batches' events, on their way back to the batcher to be freed there.
//
// Why: most events are rows the batcher folded, so their strings were allocated on the
// batcher's thread. Freed on the sender's thread, each free took the batcher arena's
// lock (glibc), contending with the batcher's own mallocs. Freed on the batcher's
// thread they go back to its thread cache, and its next folds reuse memory that is
// still warm.
//
// The sender hands over a whole vector per batch (one move, one short lock); the
// batcher frees everything handed over at the start of each step. When the batcher is
// not running, or has fallen far behind, the sender frees them itself.

#include "batch/batch.hpp"

#include <cstddef>
#include <mutex>
#include <vector>

namespace spanline::detail {

class SettledEvents {
 public:
  // Batches held at most; beyond that the giver frees its events itself.
  static constexpr std::size_t kMaxHeld = 8;

  // The sender: takes `events` (leaving it empty) unless kMaxHeld batches are waiting.
  void hand_over(std::vector<BatchEvent>& events) noexcept;
  // The batcher: frees everything handed over so far.
  void free_all() noexcept;
  // Batches handed over and not freed yet.
  std::size_t batches_held() noexcept;

 private:
  std::mutex mutex_;
  std::vector<std::vector<BatchEvent>> held_;
  // The batcher's side of a swap with held_: emptied outside the lock, and its capacity
  // handed back to held_ at the next swap.
  std::vector<std::vector<BatchEvent>> freeing_;
};

}  // namespace spanline::detail
