#include "destinations/destination_table.hpp"

#include "core/destination_id.hpp"

#include <stdexcept>

namespace spanline::detail {
namespace {

// Names end up in a JSON body: refuse what would break it (ids: destination_id.hpp).
void check_identifier(std::string_view what, std::string_view value, std::string_view forbidden) {
  if (value.empty()) throw std::invalid_argument(std::string(what) + " must not be empty");
  if (value.size() > 512) throw std::invalid_argument(std::string(what) + " is longer than 512 characters");
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || forbidden.find(c) != std::string_view::npos)
      throw std::invalid_argument(std::string(what) + " '" + std::string(value) +
                                  "' contains a character that is not allowed there");
  }
}

}  // namespace

DestinationHandle DestinationTable::add(const Destination& destination) {
  if (destination.id.empty()) {
    if (destination.kind != Destination::Kind::project_logs)
      throw std::invalid_argument("experiment and dataset destinations need an id");
    check_identifier("project name", destination.project_name, "");
  } else {
    if (const auto problem = destination_id_problem(destination.id)) {
      throw std::invalid_argument("destination id '" + printable_id(destination.id) + "' " +
                                  std::string(*problem));
    }
  }
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < destinations_.size(); ++i) {
    const Destination& known = destinations_[i];
    // A project registered by name matches later lookups by the same name even once resolved.
    const bool same = destination.id.empty()
                          ? known.project_name == destination.project_name && known.kind == destination.kind
                          : known.id == destination.id && known.kind == destination.kind && known.project_name.empty();
    if (same) return DestinationHandle{static_cast<std::uint32_t>(i)};
  }
  destinations_.push_back(destination);
  return DestinationHandle{static_cast<std::uint32_t>(destinations_.size() - 1)};
}

Destination DestinationTable::get(std::uint32_t index) const {
  std::lock_guard lock(mutex_);
  return destinations_.at(index);
}

bool DestinationTable::valid(std::uint32_t index) const {
  std::lock_guard lock(mutex_);
  return index < destinations_.size();
}

std::optional<std::string> DestinationTable::insert_path(std::uint32_t index) const {
  std::lock_guard lock(mutex_);
  if (index >= destinations_.size() || destinations_[index].id.empty()) return std::nullopt;
  return destinations_[index].insert_path();
}

void DestinationTable::set_resolved_id(std::uint32_t index, std::string id) {
  std::lock_guard lock(mutex_);
  destinations_.at(index).id = std::move(id);
}

std::size_t DestinationTable::size() const {
  std::lock_guard lock(mutex_);
  return destinations_.size();
}

}  // namespace spanline::detail
