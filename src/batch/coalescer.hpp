#pragma once
// The open batch of one destination: appends rows as events and combines a row
// into the earlier event with the same id (Braintrust merge semantics), so a span's
// start, log and end rows logged close together leave as one event.
//
// Only the batcher thread uses a Coalescer; it is not thread-safe. Rows are looked
// at only when their id repeats inside the batch; everything else is a string move.
// Merge rows are kept aside and folded into their event once, when the batch is
// taken: a span's start row is then scanned and copied once, not once per update.

#include "batch/batch.hpp"
#include "core/row.hpp"
#include "metrics/counters.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace spanline::detail {

class Coalescer {
 public:
  explicit Coalescer(std::uint32_t destination);
  ~Coalescer();
  Coalescer(Coalescer&&) noexcept;
  Coalescer& operator=(Coalescer&&) noexcept;

  // Adds `row` (non-empty JSON) to the batch, opening it at `now` when empty.
  // A row whose id is already in the batch is combined into that event; its
  // source_rows and budget bytes add up. counters.rows_coalesced counts such rows when
  // the batch is taken (`counters` must outlive that take()), net of rows that turned
  // out not to combine.
  // If the rows turn out not to combine (one fails to parse), the row becomes an
  // event of its own after it: the server then applies both in order, which is what
  // combining would have meant.
  void add(Row&& row, std::chrono::steady_clock::time_point now, PipelineCounters& counters);

  bool empty() const noexcept { return batch_.events.empty(); }
  std::size_t event_count() const noexcept { return batch_.events.size(); }
  // body_size() of the batch, kept up to date without walking the events. Merge rows
  // not folded yet count with their full size: folding never makes an event larger
  // than its rows together, so this is an upper bound.
  std::size_t body_size() const noexcept { return body_size_; }
  std::chrono::steady_clock::time_point opened() const noexcept { return batch_.opened; }

  // Folds the pending merge rows, moves the batch out (not encoded) and starts an
  // empty one.
  Batch take();

 private:
  // Where an event's id text lives in id_text_, and its pending merge rows.
  struct IdRef {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
    std::int32_t merges = -1;  // index into merges_ of its pending merge rows, -1: none
  };
  // A merge row waiting to be folded into its event.
  struct PendingMerge {
    std::string json;
    std::uint64_t budget_bytes = 0;
  };
  struct Slot {
    std::uint32_t hash = 0;
    std::uint32_t event_plus_one = 0;  // 0: empty slot
  };

  std::string_view id_of(std::size_t event) const;
  // Index of the event with this id, or -1; `slot` receives where it is or would go.
  std::ptrdiff_t find(std::string_view id, std::uint32_t hash, std::size_t& slot) const;
  void index(std::size_t event, std::uint32_t hash, std::size_t slot);
  void grow_index();
  void append(Row&& row, std::uint32_t hash, std::size_t slot);
  // Combines `row` into `event`: a replace at once, a merge row set aside for fold().
  void combine(std::size_t event, Row&& row);
  // Folds every event's pending merge rows into it.
  void fold_pending();
  // The slow path of fold_pending() for one event, a row at a time: a row that does
  // not combine starts a new event (appended), which the rows after it fold into.
  void fold_one_by_one(std::size_t event, std::vector<PendingMerge>& rows);
  // The two ways to combine two rows' JSON into `merged`; false when they cannot.
  bool merge_text(const std::string& earlier, const std::string& later, std::string& merged) noexcept;
  bool merge_trees(const std::string& earlier, const std::string& later, std::string& merged) noexcept;

  struct Scratch;

  Batch batch_;
  std::unique_ptr<Scratch> scratch_;
  std::size_t body_size_ = kEnvelopeBytes;
  std::vector<IdRef> ids_;  // parallel to batch_.events
  // The ids of the batch's events, end to end: a lookup compares against these few
  // cached bytes instead of reaching into each event's JSON, long out of the cache.
  std::string id_text_;
  // Pending merge rows per event; the first merges_used_ lists are in use. Lists are
  // kept (cleared) between batches so their capacity is reused.
  std::vector<std::vector<PendingMerge>> merges_;
  std::size_t merges_used_ = 0;
  std::vector<std::string_view> fold_views_;  // scratch for fold_rows_text()
  std::vector<std::size_t> to_fold_;          // scratch: events with pending merge rows
  PipelineCounters* counters_ = nullptr;      // from add(), told rows_coalesced at take()
  // Rows combined into an earlier event of this batch, not yet added to counters_:
  // one atomic add per batch rather than a locked instruction per combined row.
  std::uint64_t coalesced_ = 0;
  std::vector<Slot> slots_;  // open addressing, linear probing, size a power of two
  std::size_t indexed_ = 0;
  std::size_t last_count_ = 0;  // size of the previous batch, to reserve the next
};

}  // namespace spanline::detail
