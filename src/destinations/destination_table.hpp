#pragma once
// The destinations a logger writes to, indexed by DestinationHandle. Registration
// happens on callers' threads; the sender reads and resolves project names.

#include <spanline/destination.hpp>

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace spanline::detail {

class DestinationTable {
 public:
  // Same destination, same handle. Throws std::invalid_argument for an empty id/name.
  DestinationHandle add(const Destination& destination);
  Destination get(std::uint32_t index) const;
  bool valid(std::uint32_t index) const;
  // The insert path once the destination's id is known (given, or resolved).
  std::optional<std::string> insert_path(std::uint32_t index) const;
  // Records the id found for a project name.
  void set_resolved_id(std::uint32_t index, std::string id);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::deque<Destination> destinations_;
};

}  // namespace spanline::detail
