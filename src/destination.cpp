#include <spanline/destination.hpp>

#include <stdexcept>

namespace spanline {

Destination Destination::project(std::string project_id) {
  return Destination{.kind = Kind::project_logs, .id = std::move(project_id), .project_name = {}};
}
Destination Destination::project_named(std::string name) {
  return Destination{.kind = Kind::project_logs, .id = {}, .project_name = std::move(name)};
}
Destination Destination::experiment(std::string experiment_id) {
  return Destination{.kind = Kind::experiment, .id = std::move(experiment_id), .project_name = {}};
}
Destination Destination::dataset(std::string dataset_id) {
  return Destination{.kind = Kind::dataset, .id = std::move(dataset_id), .project_name = {}};
}

namespace {
std::string_view kind_segment(Destination::Kind kind) {
  switch (kind) {
    case Destination::Kind::project_logs: return "project_logs";
    case Destination::Kind::experiment: return "experiment";
    case Destination::Kind::dataset: return "dataset";
  }
  return "project_logs";
}
}  // namespace

std::string Destination::insert_path() const {
  if (id.empty()) throw std::logic_error("insert_path() needs a resolved destination id");
  std::string path = "/v1/";
  path += kind_segment(kind);
  path += '/';
  path += id;
  path += "/insert";
  return path;
}

std::string Destination::key() const {
  if (id.empty()) return "project_name:" + project_name;
  return std::string(kind_segment(kind)) + ":" + id;
}

std::optional<Destination> Destination::from_key(std::string_view key) {
  const auto colon = key.find(':');
  if (colon == std::string_view::npos || colon + 1 == key.size()) return std::nullopt;
  const std::string_view kind = key.substr(0, colon);
  std::string rest(key.substr(colon + 1));
  if (kind == "project_name") return project_named(std::move(rest));
  if (kind == kind_segment(Kind::project_logs)) return project(std::move(rest));
  if (kind == kind_segment(Kind::experiment)) return experiment(std::move(rest));
  if (kind == kind_segment(Kind::dataset)) return dataset(std::move(rest));
  return std::nullopt;
}

}  // namespace spanline
