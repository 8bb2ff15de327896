#pragma once
// Keeps the rows of one id in the order they were logged when some of them went to the
// spool and the others did not.
//
// The server applies rows as they arrive: a full row replaces what it holds, a merge row
// (`_is_merge: true`) merges into it. A span's full row written to the spool, and its
// later merge rows sent live first, would end with the replayed full row replacing the
// merged one. So while a record is in the spool and not yet acknowledged:
//   - live rows with an id the record holds go to the spool behind it (route(),
//     must_follow()), and
//   - a record that shares an id with an older unacknowledged record is replayed only
//     once that one is acknowledged (blocked()); records that share nothing replay
//     concurrently as before.
// Records an earlier process left (their ids are unknown until read) hold back every
// live row and every new record until replay has settled them all (set_legacy_pending).
// Among themselves they are ordered like new records: replay registers each one as it
// reads it, oldest first, before handing it out (add_earlier).
//
// Memory is bounded: at most `max_keys` ids are tracked. A destination whose record
// would pass the bound loses tracking until everything of it in the spool is
// acknowledged: meanwhile all its live rows go to the spool, and its records replay one
// after the other (each after the one written before it), which keeps the logged order
// at the price of replay concurrency for that destination.
//
// Ids are compared by a 64-bit hash (row_keys.hpp): a collision can only send a live
// row through the spool or order two records needlessly, never reorder a row.
//
// Thread-safe. Takes no other lock while holding its own.

#include "spool/row_keys.hpp"
#include "spool/spool_types.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace spanline::detail {

class ReplayOrder {
 public:
  explicit ReplayOrder(std::size_t max_keys) : max_keys_(max_keys) {}

  // --- live rows (the sender, before it sends a batch)
  enum class Route {
    live,        // nothing of the destination waits in the spool
    check_rows,  // some rows may have to follow: ask must_follow() per row
    spool,       // every row of the destination goes to the spool (untracked or legacy backlog)
  };
  Route route(std::uint32_t destination) const;
  // For each key, whether its row must go to the spool (1) or may be sent live (0).
  void must_follow(std::uint32_t destination, std::span<const RowKey> keys, std::vector<char>& out) const;

  // --- the spool's writer: a record becomes visible to replay (called before it is)
  void add(RecordId record, std::uint32_t destination, std::span<const RowKey> keys);

  // --- replay
  // A record an earlier run left, as replay reads it (the replay thread, oldest first,
  // before handing it out; not again on a redelivery). Its destination is numbered here
  // from its key, apart from the caller's numbering, which the spool cannot see: only
  // earlier-run records share it, and live rows and new records wait for all of those
  // anyway. `keys` is nullopt when the record's rows could not be read: it then orders
  // as an untracked destination's record does (after every unsettled record of its
  // destination, and each later one after it), since a row it might hold must not be
  // overtaken.
  void add_earlier(RecordId record, std::string_view destination_key,
                   std::optional<std::span<const RowKey>> keys);

  // True while an older record that shares an id with `record` is unacknowledged, or
  // (for a record of this run) an earlier run's backlog is not settled yet.
  bool blocked(RecordId record) const;
  // The record is acknowledged, refused for good, or lost: it holds nothing back any more.
  void settled(RecordId record);
  // Every record in [from, to) of `segment` (damaged region skipped by replay, or the
  // whole segment when it cannot be read).
  void settled_range(std::uint64_t segment, std::uint64_t from, std::uint64_t to);

  // Segments of an earlier run exist (true at open) / were all settled (false).
  void set_legacy_pending(bool pending);

  std::size_t tracked_keys() const;
  std::size_t tracked_records() const;

 private:
  struct RecordLess {
    bool operator()(const RecordId& a, const RecordId& b) const noexcept {
      return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
    }
  };
  struct Entry {
    std::uint32_t destination = 0;
    std::vector<std::uint64_t> keys;  // mixed with the destination; empty when untracked
    std::vector<RecordId> after;      // must be settled before this record replays
    bool earlier_run = false;         // added by add_earlier: not held by the legacy barrier
  };
  struct DestinationState {
    std::uint64_t records = 0;  // unsettled records
    bool untracked = false;     // over max_keys: everything goes through the spool
    std::optional<RecordId> last;
  };

  static std::uint64_t mix(RowKey key, std::uint32_t destination) noexcept;
  void add_locked(RecordId record, std::uint32_t destination, std::span<const RowKey> keys, bool untracked,
                  bool earlier_run);
  void settle_locked(std::map<RecordId, Entry, RecordLess>::iterator it);

  const std::size_t max_keys_;
  mutable std::mutex mutex_;
  std::map<RecordId, Entry, RecordLess> records_;
  std::unordered_map<std::uint64_t, RecordId> latest_;  // key -> newest unsettled record holding it
  std::unordered_map<std::uint32_t, DestinationState> destinations_;
  // Earlier-run destination keys -> their numbers (counting down from the top of the
  // range; forgotten once the backlog is settled).
  std::unordered_map<std::string, std::uint32_t> earlier_destinations_;
  bool legacy_pending_ = false;
  // Lets route() answer without the lock in the common case: nothing in the spool.
  std::atomic<std::uint64_t> unsettled_{0};
  std::atomic<bool> legacy_{false};
};

}  // namespace spanline::detail
