#include "spool/replay_order.hpp"

#include <algorithm>
#include <iterator>
#include <limits>

namespace spanline::detail {

std::uint64_t ReplayOrder::mix(RowKey key, std::uint32_t destination) noexcept {
  // Distinct destinations may hold the same id: they must not hold each other back.
  return key ^ ((std::uint64_t{destination} + 1) * 0x9e3779b97f4a7c15ull);
}

ReplayOrder::Route ReplayOrder::route(std::uint32_t destination) const {
  if (legacy_.load(std::memory_order_acquire)) return Route::spool;
  if (unsettled_.load(std::memory_order_acquire) == 0) return Route::live;
  std::lock_guard lock(mutex_);
  if (legacy_pending_) return Route::spool;
  const auto it = destinations_.find(destination);
  if (it == destinations_.end() || it->second.records == 0) return Route::live;
  return it->second.untracked ? Route::spool : Route::check_rows;
}

void ReplayOrder::must_follow(std::uint32_t destination, std::span<const RowKey> keys,
                              std::vector<char>& out) const {
  out.assign(keys.size(), 0);
  std::lock_guard lock(mutex_);
  const auto it = destinations_.find(destination);
  const bool all = legacy_pending_ || (it != destinations_.end() && it->second.untracked);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    out[i] = all || latest_.contains(mix(keys[i], destination)) ? 1 : 0;
  }
}

void ReplayOrder::add(RecordId record, std::uint32_t destination, std::span<const RowKey> keys) {
  std::lock_guard lock(mutex_);
  add_locked(record, destination, keys, false, false);
}

void ReplayOrder::add_earlier(RecordId record, std::string_view destination_key,
                              std::optional<std::span<const RowKey>> keys) {
  std::lock_guard lock(mutex_);
  // Counting down from the top keeps these numbers away from the caller's table indices
  // (which count up from 0); a clash would only order records needlessly.
  const auto slot = earlier_destinations_
                        .try_emplace(std::string(destination_key),
                                     std::numeric_limits<std::uint32_t>::max() -
                                         static_cast<std::uint32_t>(earlier_destinations_.size()))
                        .first;
  add_locked(record, slot->second, keys.value_or(std::span<const RowKey>{}), !keys.has_value(), true);
}

void ReplayOrder::add_locked(RecordId record, std::uint32_t destination, std::span<const RowKey> keys,
                             bool untracked, bool earlier_run) {
  DestinationState& state = destinations_[destination];
  Entry entry;
  entry.destination = destination;
  entry.earlier_run = earlier_run;
  if (!state.untracked && (untracked || latest_.size() + keys.size() > max_keys_)) {
    // Over the bound (or the record's ids are unknown): stop tracking this destination's
    // ids until its backlog is gone. This record follows every unsettled record of the
    // destination, and each later one follows the one before it.
    state.untracked = true;
    for (const auto& [id, other] : records_) {
      if (other.destination == destination) entry.after.push_back(id);
    }
  } else if (state.untracked) {
    if (state.last) entry.after.push_back(*state.last);
  } else {
    entry.keys.reserve(keys.size());
    for (const RowKey key : keys) {
      const std::uint64_t mixed = mix(key, destination);
      const auto [slot, inserted] = latest_.try_emplace(mixed, record);
      if (!inserted) {
        if (slot->second == record) continue;  // the same id twice in one record
        entry.after.push_back(slot->second);
        slot->second = record;
      }
      entry.keys.push_back(mixed);
    }
    std::sort(entry.after.begin(), entry.after.end(), RecordLess{});
    entry.after.erase(std::unique(entry.after.begin(), entry.after.end()), entry.after.end());
  }
  ++state.records;
  state.last = record;
  records_.insert_or_assign(record, std::move(entry));
  unsettled_.store(records_.size(), std::memory_order_release);
}

bool ReplayOrder::blocked(RecordId record) const {
  std::lock_guard lock(mutex_);
  const auto it = records_.find(record);
  if (it == records_.end()) return false;  // settled, or never registered
  // The earlier run's records are what the barrier waits for: they order among themselves.
  if (legacy_pending_ && !it->second.earlier_run) return true;
  return std::any_of(it->second.after.begin(), it->second.after.end(),
                     [&](const RecordId& before) { return records_.contains(before); });
}

void ReplayOrder::settle_locked(std::map<RecordId, Entry, RecordLess>::iterator it) {
  const RecordId id = it->first;
  Entry& entry = it->second;
  for (const std::uint64_t key : entry.keys) {
    const auto slot = latest_.find(key);
    if (slot != latest_.end() && slot->second == id) latest_.erase(slot);
  }
  const auto state = destinations_.find(entry.destination);
  if (state != destinations_.end()) {
    if (state->second.records > 0) --state->second.records;
    if (state->second.records == 0) destinations_.erase(state);  // tracking again from scratch
  }
  records_.erase(it);
}

void ReplayOrder::settled(RecordId record) {
  std::lock_guard lock(mutex_);
  const auto it = records_.find(record);
  if (it == records_.end()) return;
  settle_locked(it);
  unsettled_.store(records_.size(), std::memory_order_release);
}

void ReplayOrder::settled_range(std::uint64_t segment, std::uint64_t from, std::uint64_t to) {
  std::lock_guard lock(mutex_);
  auto it = records_.lower_bound(RecordId{segment, from});
  while (it != records_.end() && it->first.segment == segment && it->first.offset < to) {
    const auto next = std::next(it);
    settle_locked(it);
    it = next;
  }
  unsettled_.store(records_.size(), std::memory_order_release);
}

void ReplayOrder::set_legacy_pending(bool pending) {
  std::lock_guard lock(mutex_);
  legacy_pending_ = pending;
  // Every earlier-run record is settled by then (the catalog lifts the barrier only when
  // all were), so their destination numbers may go.
  if (!pending) earlier_destinations_.clear();
  legacy_.store(pending, std::memory_order_release);
}

std::size_t ReplayOrder::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return latest_.size();
}

std::size_t ReplayOrder::tracked_records() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

}  // namespace spanline::detail
