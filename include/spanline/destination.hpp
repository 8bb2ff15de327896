#pragma once
// Where rows go: project logs (by id, or by name resolved once through
// POST /v1/project), an experiment, or a dataset.

#include <spanline/export.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanline {

struct SPANLINE_API Destination {
  enum class Kind { project_logs, experiment, dataset };

  Kind kind = Kind::project_logs;
  std::string id;            // the object's UUID; empty while only project_name is known
  std::string project_name;  // project logs only: resolved (get-or-create) before sending

  static Destination project(std::string project_id);
  static Destination project_named(std::string name);
  static Destination experiment(std::string experiment_id);
  static Destination dataset(std::string dataset_id);

  // "/v1/project_logs/<id>/insert" and so on; requires a known id.
  std::string insert_path() const;
  // "project_logs:<id>", "project_name:<name>", ...: a stable, human-readable key.
  std::string key() const;
  // The inverse of key() (e.g. for records read back from the spool); nullopt when
  // `key` is not of that form or names nothing.
  static std::optional<Destination> from_key(std::string_view key);

  friend bool operator==(const Destination&, const Destination&) = default;
};

// A destination registered with a Logger; cheap to copy and pass on every log call.
struct DestinationHandle {
  std::uint32_t index = 0;
};

}  // namespace spanline
