#include "app.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace spanline::fakeapi::detail {

namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kOrgId = "fake-org-id";
constexpr std::string_view kOrgName = "fake-org";

std::optional<std::string> string_field(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr || !value->is_string() || value->get_string().empty()) return std::nullopt;
  return std::string(value->get_string());
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  if (query.empty()) return std::nullopt;
  const std::string origin = "/?" + std::string(query);
  auto parsed = boost::urls::parse_origin_form(origin);
  if (!parsed) return std::nullopt;
  auto params = parsed->params();
  auto found = params.find(name);
  if (found == params.end() || !(*found).has_value) return std::nullopt;
  return std::string((*found).value);
}

void reply(Outcome& out, unsigned status, std::string body) {
  out.status = status;
  out.body = std::move(body);
}

}  // namespace

void AppRoutes::handle(const Request& req, std::string_view path, std::string_view query, Outcome& out) {
  if (path == "/api/project" && req.method() == http::verb::get) {
    const auto id = query_value(query, "id");
    auto project = id ? projects_.by_id(*id) : std::nullopt;
    if (!project) return reply(out, 404, error_body("Project not found"));
    return reply(out, 200, json::serialize(*project));
  }
  if (req.method() != http::verb::post) return reply(out, 405, error_body("Method not allowed"));
  if (path == "/api/apikey/login") return reply(out, 200, json::serialize(login(req)));

  json::object args;
  if (!req.body().empty()) {
    boost::system::error_code ec;
    json::value parsed = json::parse(req.body(), ec);
    if (ec || !parsed.is_object()) return reply(out, 400, error_body("body must be a JSON object"));
    args = std::move(parsed.get_object());
  }
  if (path == "/api/project/register") {
    auto project = project_of(args);
    if (!project) return reply(out, 400, error_body("project_id names no project"));
    json::object body;
    body["project"] = std::move(*project);
    return reply(out, 200, json::serialize(body));
  }
  for (std::string_view kind : {"experiment", "dataset"}) {
    if (path != "/api/" + std::string(kind) + "/register") continue;
    auto project = project_of(args);
    if (!project) return reply(out, 400, error_body("project_id names no project"));
    std::string name = string_field(args, std::string(kind) + "_name").value_or("");
    json::object body;
    body[kind] = object_named(kind, *project, std::move(name));
    body["project"] = std::move(*project);
    return reply(out, 200, json::serialize(body));
  }
  reply(out, 404, error_body("Not found"));
}

json::object AppRoutes::login(const Request& req) const {
  std::string api_url = login_api_url_;
  if (api_url.empty()) api_url = "http://" + std::string(req[http::field::host]);
  json::object org;
  org["id"] = kOrgId;
  org["name"] = kOrgName;
  org["api_url"] = api_url;
  org["proxy_url"] = api_url;
  org["git_metadata"] = nullptr;
  json::object body;
  body["org_info"] = json::array{org};
  return body;
}

std::optional<json::object> AppRoutes::project_of(const json::object& args) {
  if (auto id = string_field(args, "project_id")) return projects_.by_id(*id);
  bool created = false;
  return projects_.get_or_create(string_field(args, "project_name").value_or("Global"), created);
}

json::object AppRoutes::object_named(std::string_view kind, const json::object& project, std::string name) {
  const std::string project_id(project.at("id").as_string());
  std::lock_guard lock(mutex_);
  if (name.empty()) name = std::string(kind) + "-" + std::to_string(++unnamed_);
  const std::string key = std::string(kind) + "/" + project_id + "/" + name;
  auto found = objects_.find(key);
  if (found != objects_.end()) return found->second;
  json::object object;
  object["id"] = make_uuid_v4();
  object["project_id"] = project_id;
  object["name"] = name;
  object["created"] = iso8601_now();
  object["description"] = nullptr;
  object["metadata"] = nullptr;
  objects_.emplace(key, object);
  return object;
}

}  // namespace spanline::fakeapi::detail
