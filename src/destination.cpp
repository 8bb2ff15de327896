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

}  // namespace spanline
