#include "transport/live_order.hpp"

#include <algorithm>
#include <bit>

namespace spanline::detail {
namespace {

// Smallest table: a few small batches' ids fit without a rehash.
constexpr std::size_t kMinSlots = 1024;

}  // namespace

std::shared_ptr<LiveOrder::Hold> LiveOrder::hold(const Batch& batch) {
  std::vector<std::uint64_t> keys;
  keys.reserve(batch.events.size());
  for (const BatchEvent& event : batch.events)
    if (event.id_key != 0) keys.push_back(event.id_key);
  std::lock_guard lock(mutex_);
  const std::uint64_t ticket = next_ticket_++;
  reserve_for(keys.size());
  try {
    std::size_t behind = 0;  // ids an earlier unresolved batch holds
    for (const std::uint64_t key : keys)
      if (add_holder(key, ticket)) ++behind;
    if (behind != 0) waiting_.emplace(ticket, behind);
    return std::make_shared<Hold>(*this, ticket, std::move(keys), behind == 0);
  } catch (...) {
    // No Hold exists to let these ids go: undo them, or later batches would wait forever.
    waiting_.erase(ticket);
    for (const std::uint64_t key : keys) remove_holder(key, ticket);
    throw;
  }
}

std::size_t LiveOrder::ids_tracked() const {
  std::lock_guard lock(mutex_);
  return used_;
}

bool LiveOrder::is_first(std::uint64_t ticket) const {
  std::lock_guard lock(mutex_);
  return !waiting_.contains(ticket);
}

void LiveOrder::release(std::uint64_t ticket, std::span<const std::uint64_t> keys) noexcept {
  std::lock_guard lock(mutex_);
  waiting_.erase(ticket);
  for (const std::uint64_t key : keys) remove_holder(key, ticket);
  // Give back what a backlog made the table grow to, once most of it is empty again; the
  // wide gap to the growth threshold keeps a steady load from growing and shrinking it.
  if (slots_.size() > kMinSlots && used_ * 16 < slots_.size()) {
    std::size_t slots = kMinSlots;
    while (slots < used_ * 4) slots *= 2;
    try {
      rehash(slots);
    } catch (...) {
      // No memory for the smaller table: keep the larger one.
    }
  }
}

bool LiveOrder::add_holder(std::uint64_t key, std::uint64_t ticket) {
  Slot& slot = slots_[probe(key)];
  if (slot.key == 0) {
    slot = Slot{key, ticket, kNoList};
    ++used_;
    return false;
  }
  if (slot.first == ticket) return false;  // the id repeats inside this batch
  if (slot.later == kNoList) slot.later = new_list();
  std::vector<std::uint64_t>& later = lists_[slot.later];
  // Tickets only grow, so a repeat of this batch's id would be the last one listed.
  if (!later.empty() && later.back() == ticket) return false;
  later.push_back(ticket);
  return true;
}

void LiveOrder::remove_holder(std::uint64_t key, std::uint64_t ticket) noexcept {
  if (slots_.empty()) return;
  const std::size_t at = probe(key);
  Slot& slot = slots_[at];
  if (slot.key == 0) return;  // a repeat of an id this batch already let go
  if (slot.later == kNoList) {
    if (slot.first == ticket) erase_slot(at);
    return;
  }
  std::vector<std::uint64_t>& later = lists_[slot.later];
  if (slot.first == ticket && !later.empty()) {
    // The next batch in line for this id now holds it first; it may be able to go.
    slot.first = later.front();
    later.erase(later.begin());
    const auto waiter = waiting_.find(slot.first);
    if (waiter != waiting_.end() && --waiter->second == 0) waiting_.erase(waiter);
  } else if (slot.first != ticket) {
    const auto it = std::find(later.begin(), later.end(), ticket);
    if (it != later.end()) later.erase(it);
  }
  if (!later.empty()) return;
  free_list(slot.later);
  slot.later = kNoList;
  if (slot.first == ticket) erase_slot(at);  // only when a failed hold() left an empty list
}

std::size_t LiveOrder::home(std::uint64_t key) const noexcept {
  // Fibonacci hashing: the top bits of key * 2^64/phi. Keys are row_key() hashes, but
  // taking their low bits as they are would let keys that differ only higher up (or run
  // in sequence) pile into one long probe run.
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

std::size_t LiveOrder::probe(std::uint64_t key) const noexcept {
  const std::size_t mask = slots_.size() - 1;
  std::size_t at = home(key);
  while (slots_[at].key != key && slots_[at].key != 0) at = (at + 1) & mask;
  return at;
}

void LiveOrder::erase_slot(std::size_t at) noexcept {
  // Backward-shift deletion: pull later members of the probe run into the hole, so
  // lookups never need tombstones.
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = at;
  for (std::size_t i = (hole + 1) & mask; slots_[i].key != 0; i = (i + 1) & mask) {
    const std::size_t wanted = home(slots_[i].key);
    // Slot i may move into the hole only if its home is not between the hole and i.
    if (((i - wanted) & mask) >= ((i - hole) & mask)) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
  --used_;
}

void LiveOrder::rehash(std::size_t slots) {
  std::vector<Slot> old(slots, Slot{});
  old.swap(slots_);
  shift_ = 64 - std::countr_zero(slots);
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.key == 0) continue;
    std::size_t at = home(slot.key);
    while (slots_[at].key != 0) at = (at + 1) & mask;
    slots_[at] = slot;
  }
}

void LiveOrder::reserve_for(std::size_t more) {
  const std::size_t needed = used_ + more;
  if (!slots_.empty() && needed * 2 <= slots_.size()) return;
  std::size_t slots = std::max(kMinSlots, slots_.size());
  while (slots < needed * 2) slots *= 2;
  rehash(slots);
}

std::uint32_t LiveOrder::new_list() {
  if (!free_lists_.empty()) {
    const std::uint32_t list = free_lists_.back();
    free_lists_.pop_back();
    return list;
  }
  free_lists_.reserve(lists_.size() + 1);  // so that free_list() never allocates
  lists_.emplace_back();
  return static_cast<std::uint32_t>(lists_.size() - 1);
}

void LiveOrder::free_list(std::uint32_t list) noexcept {
  lists_[list].clear();
  free_lists_.push_back(list);
}

LiveOrder::Hold::~Hold() { order_.release(ticket_, keys_); }

bool LiveOrder::Hold::first_in_line() const {
  if (!first_) first_ = order_.is_first(ticket_);
  return first_;
}

}  // namespace spanline::detail
