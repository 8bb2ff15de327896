#pragma once
// The fake API's "app" endpoints: what the official SDKs call on BRAINTRUST_APP_URL before
// they log, so tests can run an unchanged SDK with no network.
//
//   POST /api/apikey/login        -> {"org_info":[{"id","name","api_url",...}]}
//   POST /api/project/register    {project_name, org_id}               -> {"project":{...}}
//   POST /api/experiment/register {project_name|project_id, experiment_name?, ...}
//                                 -> {"project":{...},"experiment":{...}}
//   POST /api/dataset/register    {project_name|project_id, dataset_name, ...}
//                                 -> {"project":{...},"dataset":{...}}
//   GET  /api/project?id=...      -> the project
//
// The login's api_url is ServerConfig::login_api_url, or this server's own URL (from the
// request's Host) when that is empty. Registration is get-or-create by name, so a program
// run twice logs to the same objects. These routes have no faults and are not counted in
// the API stats: the app is another service than the API the faults simulate.

#include "service.hpp"
#include "store.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

namespace spanline::fakeapi::detail {

class AppRoutes {
 public:
  AppRoutes(std::string login_api_url, ProjectRegistry& projects)
      : login_api_url_(std::move(login_api_url)), projects_(projects) {}

  // `path` starts with "/api/"; fills `out` (404 for an unknown app route).
  void handle(const Request& req, std::string_view path, std::string_view query, Outcome& out);

 private:
  boost::json::object login(const Request& req) const;
  // The project a register call names (project_id, else project_name, else "Global").
  std::optional<boost::json::object> project_of(const boost::json::object& args);
  // An experiment or dataset called `name` in `project`, created when absent.
  boost::json::object object_named(std::string_view kind, const boost::json::object& project,
                                   std::string name);

  const std::string login_api_url_;
  ProjectRegistry& projects_;
  std::mutex mutex_;
  std::unordered_map<std::string, boost::json::object> objects_;  // "kind/project/name" -> object
  std::size_t unnamed_ = 0;
};

}  // namespace spanline::fakeapi::detail
