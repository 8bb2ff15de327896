#include "transport/live_order.hpp"

#include <algorithm>

namespace spanline::detail {

std::shared_ptr<LiveOrder::Hold> LiveOrder::hold(const Batch& batch) {
  std::vector<std::uint64_t> keys;
  keys.reserve(batch.events.size());
  for (const BatchEvent& event : batch.events)
    if (event.id_key != 0) keys.push_back(event.id_key);
  std::lock_guard lock(mutex_);
  const std::uint64_t ticket = next_ticket_++;
  for (const std::uint64_t key : keys) {
    auto [it, added] = holders_.try_emplace(key);
    if (added) {
      it->second.first = ticket;
    } else {
      it->second.later.push_back(ticket);
    }
  }
  return std::make_shared<Hold>(*this, ticket, std::move(keys));
}

std::size_t LiveOrder::ids_tracked() const {
  std::lock_guard lock(mutex_);
  return holders_.size();
}

bool LiveOrder::first_for_all(std::uint64_t ticket, const std::vector<std::uint64_t>& keys) const {
  std::lock_guard lock(mutex_);
  for (const std::uint64_t key : keys) {
    const auto it = holders_.find(key);
    if (it != holders_.end() && it->second.first != ticket) return false;
  }
  return true;
}

void LiveOrder::release(std::uint64_t ticket, const std::vector<std::uint64_t>& keys) noexcept {
  std::lock_guard lock(mutex_);
  for (const std::uint64_t key : keys) {
    const auto it = holders_.find(key);
    if (it == holders_.end()) continue;
    Holders& holders = it->second;
    if (holders.first == ticket) {
      if (holders.later.empty()) {
        holders_.erase(it);
        continue;
      }
      holders.first = holders.later.front();
      holders.later.erase(holders.later.begin());
    } else {
      const auto at = std::find(holders.later.begin(), holders.later.end(), ticket);
      if (at != holders.later.end()) holders.later.erase(at);
    }
  }
}

LiveOrder::Hold::~Hold() { order_.release(ticket_, keys_); }

bool LiveOrder::Hold::first_in_line() const {
  if (!first_) first_ = order_.first_for_all(ticket_, keys_);
  return first_;
}

}  // namespace spanline::detail
