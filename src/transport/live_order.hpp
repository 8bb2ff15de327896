#pragma once
// Keeps the rows of one id in logged order across requests that are in flight at the
// same time.
//
// The server applies rows as they arrive: a full row replaces what it holds, a merge
// row merges into it. With several requests on the wire, or one waiting to be retried,
// a span's end row (a merge) sent in a later batch could be applied before the batch
// that holds its start row (a full row); the start row would then replace the merged
// row, and the end row's fields would be lost. So a batch may start sending only once
// no earlier batch that shares a row id with it is still unresolved. Batches that share
// nothing go out concurrently as before; in practice only the few batches a span
// straddles wait, and only while the earlier one is on the wire.
//
// A batch's place in line is a Hold, taken when the sender accepts the batch and let go
// when the last copy of it is destroyed (delivered, rejected, dropped or spooled; the
// halves of a split batch share it), so no path that settles a batch can forget it.
//
// Ids are compared by a 64-bit hash (BatchEvent::id_key): a collision can only make a
// batch wait for an unrelated one, never reorder rows. Thread-safe.

#include "batch/batch.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

class LiveOrder {
 public:
  class Hold {
   public:
    Hold(LiveOrder& order, std::uint64_t ticket, std::vector<std::uint64_t> keys)
        : order_(order), ticket_(ticket), keys_(std::move(keys)) {}
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

    // True when no earlier unresolved batch shares a row id with this one. Once true it
    // stays true: batches that take a Hold later only ever queue behind this one.
    bool first_in_line() const;

   private:
    LiveOrder& order_;
    const std::uint64_t ticket_;
    const std::vector<std::uint64_t> keys_;
    mutable bool first_ = false;
  };

  // Takes the batch's place in line, behind every batch that took one before it.
  std::shared_ptr<Hold> hold(const Batch& batch);

  // Row ids held by unresolved batches (for tests and the metrics).
  std::size_t ids_tracked() const;

 private:
  // The batches holding one id, earliest first; almost always just one.
  struct Holders {
    std::uint64_t first = 0;
    std::vector<std::uint64_t> later;
  };

  bool first_for_all(std::uint64_t ticket, const std::vector<std::uint64_t>& keys) const;
  void release(std::uint64_t ticket, const std::vector<std::uint64_t>& keys) noexcept;

  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Holders> holders_;
  std::uint64_t next_ticket_ = 1;
};

}  // namespace spanline::detail
