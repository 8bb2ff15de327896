#include "batch/coalescer.hpp"

#include "batch/merge.hpp"
#include "batch/prefetch.hpp"
#include "batch/text_merge.hpp"
#include "spool/row_keys.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace spanline::detail {
namespace {

constexpr std::size_t kMinSlots = 128;

std::uint64_t load_word(const char* at) {
  std::uint64_t word = 0;
  std::memcpy(&word, at, sizeof word);
  return word;
}

// Ids are mostly 36-character UUIDs: mix them 8 bytes at a time, a few multiplies per
// id (std::hash goes through a general routine that costs several times more). Only
// for the batch's own table: ids that hash alike are still compared in full.
std::uint32_t hash_id(std::string_view id) {
  constexpr std::uint64_t kMultiplier = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = id.size() * kMultiplier;
  const auto mix = [&](std::uint64_t word) {
    h = (h ^ word) * kMultiplier;
    h ^= h >> 32;
  };
  std::size_t at = 0;
  for (; at + 8 <= id.size(); at += 8) mix(load_word(id.data() + at));
  if (at < id.size()) {
    if (id.size() >= 8) {
      mix(load_word(id.data() + id.size() - 8));  // the last 8 bytes, overlapping the words before
    } else {
      std::uint64_t tail = 0;
      for (; at < id.size(); ++at) tail = (tail << 8) | static_cast<unsigned char>(id[at]);
      mix(tail);
    }
  }
  h *= kMultiplier;
  return static_cast<std::uint32_t>(h >> 32);
}

std::size_t slots_for(std::size_t events) {
  std::size_t n = kMinSlots;
  while (n < events * 2) n *= 2;
  return n;
}

// Whether the row's JSON may say it is a merge row even though its flag does not
// (a hand-made PreparedRow). Rows are compact, so the key is spelled this way.
bool mentions_merge(const std::string& json) { return json.find("\"_is_merge\"") != std::string::npos; }

}  // namespace

// Memory for the JSON trees of one merge: handed out by bumping a pointer and dropped
// all at once afterwards, so a merge does not pay an allocation per node.
// The buffer is reused after each release(); only merges of rows larger than it
// reach the heap (monotonic_resource frees those blocks on release()).
struct Coalescer::Scratch {
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  alignas(std::max_align_t) unsigned char buffer[kBufferBytes];
  boost::json::monotonic_resource memory{buffer, kBufferBytes};
};

Coalescer::~Coalescer() = default;
Coalescer::Coalescer(Coalescer&&) noexcept = default;
Coalescer& Coalescer::operator=(Coalescer&&) noexcept = default;

Coalescer::Coalescer(std::uint32_t destination) : scratch_(std::make_unique<Scratch>()) {
  batch_.destination = destination;
  slots_.assign(kMinSlots, Slot{});
}

std::string_view Coalescer::id_of(std::size_t event) const {
  const IdRef& ref = ids_[event];
  return std::string_view(id_text_).substr(ref.offset, ref.size);
}

std::ptrdiff_t Coalescer::find(std::string_view id, std::uint32_t hash, std::size_t& slot) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.event_plus_one == 0) {
      slot = i;
      return -1;
    }
    if (s.hash == hash && id_of(s.event_plus_one - 1) == id) {
      slot = i;
      return static_cast<std::ptrdiff_t>(s.event_plus_one - 1);
    }
  }
}

void Coalescer::index(std::size_t event, std::uint32_t hash, std::size_t slot) {
  slots_[slot] = Slot{hash, static_cast<std::uint32_t>(event + 1)};
  ++indexed_;
}

void Coalescer::grow_index() {
  std::vector<Slot> old(slots_.size() * 2, Slot{});
  old.swap(slots_);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.event_plus_one == 0) continue;
    std::size_t i = s.hash & mask;
    while (slots_[i].event_plus_one != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Coalescer::add(Row&& row, std::chrono::steady_clock::time_point now, PipelineCounters& counters) {
  counters_ = &counters;
  if (batch_.events.empty()) batch_.opened = now;
  const bool has_id = row.id_size > 0 && std::size_t{row.id_offset} + row.id_size <= row.json.size();
  if (!has_id) {
    append(std::move(row), 0, SIZE_MAX);
    return;
  }
  if ((indexed_ + 1) * 2 > slots_.size()) grow_index();
  const std::uint32_t hash = hash_id(row.id());
  std::size_t slot = 0;
  const std::ptrdiff_t found = find(row.id(), hash, slot);
  if (found < 0) {
    append(std::move(row), hash, slot);
    return;
  }
  combine(static_cast<std::size_t>(found), std::move(row));
  ++coalesced_;
}

void Coalescer::append(Row&& row, std::uint32_t hash, std::size_t slot) {
  const std::size_t event = batch_.events.size();
  body_size_ += row.json.size() + (event > 0 ? 1 : 0);
  const bool has_id = slot != SIZE_MAX;
  ids_.push_back(IdRef{static_cast<std::uint32_t>(id_text_.size()), has_id ? row.id_size : 0, -1});
  if (has_id) id_text_.append(row.id());
  BatchEvent& added = batch_.events.emplace_back();
  added.budget_bytes = row.budget_bytes();
  added.source_rows = 1;
  // The sender keeps rows of one id in order across requests by this key (live_order.hpp).
  if (has_id) added.id_key = row_key(row.id());
  added.json = std::move(row.json);
  if (has_id) index(event, hash, slot);
}

void Coalescer::combine(std::size_t event, Row&& row) {
  BatchEvent& target = batch_.events[event];
  IdRef& ref = ids_[event];
  const std::uint64_t budget = row.budget_bytes();
  target.source_rows += 1;
  target.budget_bytes += budget;
  if (!row.is_merge && !mentions_merge(row.json)) {
    // A replace: the combined row is the later row itself, whatever was pending.
    std::size_t replaced = target.json.size();
    if (ref.merges >= 0) {
      for (const PendingMerge& pending : merges_[static_cast<std::size_t>(ref.merges)])
        replaced += pending.json.size();
      merges_[static_cast<std::size_t>(ref.merges)].clear();
    }
    body_size_ = body_size_ - replaced + row.json.size();
    target.json = std::move(row.json);  // the same id, so id_text_ still holds it
    return;
  }
  if (ref.merges < 0) {
    if (merges_used_ == merges_.size()) merges_.emplace_back();
    ref.merges = static_cast<std::int32_t>(merges_used_++);
  }
  body_size_ += row.json.size();
  merges_[static_cast<std::size_t>(ref.merges)].push_back(PendingMerge{std::move(row.json), budget});
}

void Coalescer::fold_pending() {
  const std::size_t events = batch_.events.size();  // fold_one_by_one may append more
  to_fold_.clear();
  for (std::size_t event = 0; event < events; ++event) {
    const std::int32_t list = ids_[event].merges;
    if (list >= 0 && !merges_[static_cast<std::size_t>(list)].empty()) to_fold_.push_back(event);
  }
  // Folding happens when a batch is taken, long after its rows arrived: by then they
  // have left the cache, and each fold would otherwise stall on every row it reads. Rows
  // of the next few events are fetched ahead: enough to cover the memory's latency, few
  // enough that they are still cached when their turn comes.
  constexpr std::size_t kAhead = 4;
  std::size_t prefetched = 0;
  std::string merged;
  for (std::size_t k = 0; k < to_fold_.size(); ++k) {
    for (; prefetched < to_fold_.size() && prefetched <= k + kAhead; ++prefetched) {
      const std::size_t ahead = to_fold_[prefetched];
      prefetch_text(batch_.events[ahead].json);
      for (const PendingMerge& row : merges_[static_cast<std::size_t>(ids_[ahead].merges)])
        prefetch_text(row.json);
    }
    const std::size_t event = to_fold_[k];
    std::vector<PendingMerge>& rows = merges_[static_cast<std::size_t>(ids_[event].merges)];
    fold_views_.clear();
    for (const PendingMerge& row : rows) fold_views_.emplace_back(row.json);
    bool folded = false;
    try {
      folded = fold_rows_text(batch_.events[event].json, fold_views_, merged);
    } catch (const std::exception&) {
      folded = false;  // out of memory: the slow path decides
    }
    if (folded) {
      batch_.events[event].json.swap(merged);
    } else {
      fold_one_by_one(event, rows);
    }
    rows.clear();
  }
}

void Coalescer::fold_one_by_one(std::size_t event, std::vector<PendingMerge>& rows) {
  std::size_t into = event;
  std::string merged;
  for (PendingMerge& row : rows) {
    const std::string& current = batch_.events[into].json;
    if (merge_text(current, row.json, merged) || merge_trees(current, row.json, merged)) {
      batch_.events[into].json.swap(merged);
      if (into != event) {
        // Folded into the split-off event: its row and budget move there.
        batch_.events[event].source_rows -= 1;
        batch_.events[event].budget_bytes -= row.budget_bytes;
        batch_.events[into].source_rows += 1;
        batch_.events[into].budget_bytes += row.budget_bytes;
      }
      continue;
    }
    // Cannot combine: the row goes out as its own event after this one.
    batch_.events[event].source_rows -= 1;
    batch_.events[event].budget_bytes -= row.budget_bytes;
    into = batch_.events.size();
    BatchEvent& own = batch_.events.emplace_back();
    own.json = std::move(row.json);
    own.source_rows = 1;
    own.budget_bytes = row.budget_bytes;
    own.id_key = batch_.events[event].id_key;
    --coalesced_;
  }
}

bool Coalescer::merge_text(const std::string& earlier, const std::string& later,
                           std::string& merged) noexcept {
  try {
    return combine_rows_text(earlier, later, merged);
  } catch (const std::exception&) {
    return false;  // out of memory: the tree path will not do better, but it decides
  }
}

bool Coalescer::merge_trees(const std::string& earlier_text, const std::string& later_text,
                            std::string& merged) noexcept {
  bool combined = false;
  try {
    const boost::json::storage_ptr memory(&scratch_->memory);
    boost::json::value earlier = boost::json::parse(earlier_text, memory);
    const boost::json::value later = boost::json::parse(later_text, memory);
    if (earlier.is_object() && later.is_object()) {
      combine_rows(earlier.get_object(), later.get_object());
      merged = boost::json::serialize(earlier);
      combined = true;
    }
  } catch (const std::exception&) {
    combined = false;
  }
  scratch_->memory.release();
  return combined;
}

Batch Coalescer::take() {
  fold_pending();
  if (counters_ != nullptr && coalesced_ != 0)
    counters_->rows_coalesced.fetch_add(coalesced_, std::memory_order_relaxed);
  coalesced_ = 0;
  Batch out = std::move(batch_);
  last_count_ = out.events.size();
  batch_ = Batch{};
  batch_.destination = out.destination;
  batch_.events.reserve(last_count_);
  body_size_ = kEnvelopeBytes;
  ids_.clear();
  ids_.reserve(last_count_);
  id_text_.clear();
  merges_used_ = 0;
  slots_.assign(slots_for(last_count_), Slot{});
  indexed_ = 0;
  return out;
}

}  // namespace spanline::detail
