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
//
// A batch brings thousands of ids and nearly all of them are held by that batch alone,
// so the ids live in an open-addressing table of plain slots (no allocation per id), and
// each batch keeps a count of the ids it waits on: asking whether it may go is then one
// lookup instead of one per id.

#include "batch/batch.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

class LiveOrder {
 public:
  class Hold {
   public:
    // `first`: no earlier unresolved batch shared an id with this one when it was taken.
    Hold(LiveOrder& order, std::uint64_t ticket, std::vector<std::uint64_t> keys, bool first)
        : order_(order), ticket_(ticket), keys_(std::move(keys)), first_(first) {}
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

    // True when no earlier unresolved batch shares a row id with this one. Once true it
    // stays true: batches that take a Hold later only ever queue behind this one.
    bool first_in_line() const;

   private:
    LiveOrder& order_;
    const std::uint64_t ticket_;
    const std::vector<std::uint64_t> keys_;  // may repeat an id; 0 never appears
    mutable bool first_ = false;
  };

  // Takes the batch's place in line, behind every batch that took one before it.
  std::shared_ptr<Hold> hold(const Batch& batch);

  // Row ids held by unresolved batches (for tests and the metrics).
  std::size_t ids_tracked() const;

 private:
  static constexpr std::uint32_t kNoList = UINT32_MAX;

  // One id and the batches holding it, earliest first: `first`, then the tickets in
  // lists_[later] when other batches wait for it (rare: a span that straddles batches).
  struct Slot {
    std::uint64_t key = 0;  // 0: empty
    std::uint64_t first = 0;
    std::uint32_t later = kNoList;
  };

  bool is_first(std::uint64_t ticket) const;
  void release(std::uint64_t ticket, std::span<const std::uint64_t> keys) noexcept;
  // With mutex_ held. False when `ticket` had to queue behind an earlier holder of `key`.
  bool add_holder(std::uint64_t key, std::uint64_t ticket);
  void remove_holder(std::uint64_t key, std::uint64_t ticket) noexcept;
  // Where `key`'s probe run starts.
  std::size_t home(std::uint64_t key) const noexcept;
  // Index of the slot holding `key`, or of the empty slot where it would go.
  std::size_t probe(std::uint64_t key) const noexcept;
  void erase_slot(std::size_t at) noexcept;
  void rehash(std::size_t slots);
  // Makes room for `more` ids without rehashing in the middle of an insertion.
  void reserve_for(std::size_t more);
  std::uint32_t new_list();
  void free_list(std::uint32_t list) noexcept;

  mutable std::mutex mutex_;
  std::vector<Slot> slots_;  // a power of two in size (or empty), at most half full
  int shift_ = 63;           // 64 - log2(slots_.size()), for home(); set by rehash()
  std::size_t used_ = 0;
  std::vector<std::vector<std::uint64_t>> lists_;  // later holders; reused through free_lists_
  std::vector<std::uint32_t> free_lists_;
  // Batches that wait: ticket -> how many of their ids an earlier batch still holds.
  std::unordered_map<std::uint64_t, std::size_t> waiting_;
  std::uint64_t next_ticket_ = 1;
};

}  // namespace spanline::detail
