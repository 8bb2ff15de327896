#include "service.hpp"

#include "app.hpp"

#include "codec/codec.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>

namespace spanline::fakeapi::detail {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;

constexpr std::size_t kDefaultFetchLimit = 1000;
constexpr std::string_view kVersion = "spanline-fakeapi 0.1.0";

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool known_kind(std::string_view kind) {
  return kind == "project_logs" || kind == "experiment" || kind == "dataset";
}

// Appends `text` as a JSON string literal; the fast path copies ids that need no escaping.
void append_json_string(std::string& out, std::string_view text) {
  bool plain = true;
  for (const unsigned char c : text) {
    if (c < 0x20 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
  } else {
    out.append(json::serialize(json::value(json::string(text))));
  }
}

template <class Ids>
std::string row_ids_body(const Ids& ids) {
  std::string body;
  body.reserve(16 + ids.size() * 40);
  body.append("{\"row_ids\":[");
  bool first = true;
  for (const auto& id : ids) {
    if (!first) body.push_back(',');
    first = false;
    append_json_string(body, std::string_view(id));
  }
  body.append("]}");
  return body;
}

void answer(Outcome& out, unsigned status, std::string body) {
  out.status = status;
  out.body = std::move(body);
}

void bad_request(Outcome& out, std::string_view message) { answer(out, 400, error_body(message)); }

// A JSON number as a double; nullopt for anything else.
std::optional<double> as_number(const json::value& value) {
  if (value.is_int64()) return static_cast<double>(value.get_int64());
  if (value.is_uint64()) return static_cast<double>(value.get_uint64());
  if (value.is_double()) return value.get_double();
  return std::nullopt;
}

// Parses `body` as a JSON object; an empty body counts as {} when allow_empty.
std::optional<json::object> parse_object(std::string_view body, bool allow_empty) {
  if (body.empty() && allow_empty) return json::object();
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  if (query.empty()) return std::nullopt;
  std::string origin("/?");
  origin.append(query);
  auto parsed = boost::urls::parse_origin_form(origin);
  if (!parsed) return std::nullopt;
  auto params = parsed->params();
  auto found = params.find(name);
  if (found == params.end() || !(*found).has_value) return std::nullopt;
  return std::string((*found).value);
}

json::object faults_to_json(const FaultConfig& faults) {
  json::object out;
  out["fail_429"] = faults.fail_429;
  out["retry_after"] = faults.retry_after_s;
  out["fail_5xx"] = faults.fail_5xx;
  out["latency_ms"] = faults.latency_ms;
  out["reset"] = faults.reset;
  out["outage_start_s"] = faults.outage_start_s;
  out["outage_duration_s"] = faults.outage_duration_s;
  out["seed"] = faults.seed;
  return out;
}

// The /_fake/faults body; missing fields take FaultConfig's defaults, and an
// outage with a duration starts now unless outage_start_s says otherwise.
FaultConfig faults_from_json(const json::object& body) {
  FaultConfig faults;
  auto number = [&](std::string_view key) -> std::optional<double> {
    const auto* value = body.if_contains(key);
    if (value == nullptr || value->is_null()) return std::nullopt;
    auto n = as_number(*value);
    if (!n) throw std::invalid_argument(std::string(key) + " must be a number");
    return n;
  };
  if (auto v = number("fail_429")) faults.fail_429 = *v;
  if (auto v = number("fail_5xx")) faults.fail_5xx = *v;
  if (auto v = number("reset")) faults.reset = *v;
  if (auto v = number("retry_after")) faults.retry_after_s = static_cast<int>(*v);
  if (auto v = number("retry_after_s")) faults.retry_after_s = static_cast<int>(*v);
  if (auto v = number("latency_ms")) faults.latency_ms = static_cast<int>(*v);
  if (auto v = number("outage_duration_s")) {
    faults.outage_duration_s = *v;
    faults.outage_start_s = 0;
  }
  if (auto v = number("outage_start_s")) faults.outage_start_s = *v;
  if (auto v = number("seed")) {
    if (*v < 0) throw std::invalid_argument("seed must be >= 0");
    faults.seed = static_cast<std::uint64_t>(*v);
  }
  return faults;
}

}  // namespace

std::string error_body(std::string_view message) {
  std::string body("{\"message\":");
  append_json_string(body, message);
  body.push_back('}');
  return body;
}

Service::Service(const ServerConfig& config)
    : api_key_(config.api_key),
      max_payload_bytes_(config.max_payload_bytes),
      log_limit_(config.request_log_limit),
      faults_(config.faults),
      store_(config.store) {
  if (max_payload_bytes_ == 0) throw std::invalid_argument("fake API: max_payload_bytes must be > 0");
  app_ = std::make_unique<AppRoutes>(config.login_api_url, projects_);
}

Service::~Service() = default;

// ---- dispatch -------------------------------------------------------------------

Outcome Service::handle(Request& req) {
  const std::string_view target = req.target();
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  if (path.starts_with("/_fake/")) return handle_control(req, path);

  Outcome out;
  if (path.starts_with("/api/")) {
    if (!authorized(req)) {
      answer(out, 401, error_body("Missing or invalid API key"));
    } else {
      app_->handle(req, path, query, out);
    }
    return out;
  }
  if (path != "/version" && path != "/v1" && !path.starts_with("/v1/") && path != "/logs3") {
    answer(out, 404, error_body("Not found"));
    return out;
  }
  out.counted = true;
  out.method = std::string(req.method_string());
  out.target = std::string(target);
  out.content_encoding = std::string(req[http::field::content_encoding]);
  out.bytes_received = req.body().size();

  // The draw comes first so every faultable request consumes exactly one.
  const FaultDecision fault = faults_.decide();
  out.delay = fault.delay;
  if (fault.action == FaultAction::outage) {
    answer(out, 503, R"j({"Code":"ServiceUnavailable","message":"Service unavailable (outage)"})j");
    return out;
  }
  if (!authorized(req)) {
    answer(out, 401, error_body("Missing or invalid API key"));
    return out;
  }
  switch (fault.action) {
    case FaultAction::reset:
      out.reset = true;
      return out;
    case FaultAction::too_many_requests:
      out.retry_after_s = fault.retry_after_s;
      answer(out, 429, error_body("Too Many Requests"));
      return out;
    case FaultAction::unavailable:
      answer(out, 503, R"j({"Code":"ServiceUnavailable","message":"Service unavailable (injected)"})j");
      return out;
    default:
      break;
  }
  try {
    handle_api(req, path, query, out);
  } catch (const std::exception&) {
    // A bug here must not take the server down; the client sees a 500.
    answer(out, 500, R"j({"Code":"InternalServerError","message":"internal error"})j");
  }
  return out;
}

Outcome Service::body_too_large(const Request& req) {
  Outcome out;
  const std::string_view target = req.target();
  out.counted = !target.starts_with("/_fake/");
  out.method = std::string(req.method_string());
  out.target = std::string(target);
  out.content_encoding = std::string(req[http::field::content_encoding]);
  answer(out, 413, error_body("Request Too Long"));
  return out;
}

bool Service::authorized(const Request& req) const {
  if (api_key_.empty()) return true;
  const std::string_view header = req[http::field::authorization];
  constexpr std::string_view scheme = "bearer ";
  if (header.size() != scheme.size() + api_key_.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return false;
  }
  // Compare every byte so timing does not reveal how much of a guess was right.
  unsigned char diff = 0;
  for (std::size_t i = 0; i < api_key_.size(); ++i) {
    diff |= static_cast<unsigned char>(header[scheme.size() + i] ^ api_key_[i]);
  }
  return diff == 0;
}

bool Service::decode_body(Request& req, DecodedBody& decoded, Outcome& out) {
  const auto encoding = spanline::detail::parse_content_encoding(req[http::field::content_encoding]);
  if (!encoding) {
    answer(out, 415, error_body("Unsupported Content-Encoding"));
    return false;
  }
  if (req.body().size() > max_payload_bytes_) {
    answer(out, 413, error_body("Request Too Long"));
    return false;
  }
  // Handling is synchronous on the io thread, so one decoder per thread serves
  // every connection that thread runs, and its buffer stays warm.
  thread_local BodyDecoder decoder;
  std::string error;
  switch (decoder.decode(*encoding, req.body(), max_payload_bytes_, decoded, error)) {
    case DecodeStatus::ok:
      break;
    case DecodeStatus::too_large:
      answer(out, 413, error_body("Request Too Long"));
      return false;
    case DecodeStatus::corrupt:
      bad_request(out, "cannot decode the body: " + error);
      return false;
  }
  out.bytes_decoded = decoded.text.size();
  if (!req.body().empty() || !decoded.text.empty()) {
    out.decoded_encoding = std::string(spanline::detail::content_encoding(*encoding));
    if (out.decoded_encoding.empty()) out.decoded_encoding = "identity";
  }
  return true;
}

void Service::handle_api(Request& req, std::string_view path, std::string_view query, Outcome& out) {
  const auto verb = req.method();
  if (path == "/version") {
    if (verb != http::verb::get) return answer(out, 405, error_body("Method not allowed"));
    json::object body;
    body["version"] = kVersion;
    body["logs3_payload_max_bytes"] = max_payload_bytes_;
    return answer(out, 200, json::serialize(body));
  }

  if (path == "/logs3") {
    if (verb != http::verb::post) return answer(out, 405, error_body("Method not allowed"));
    DecodedBody body;
    if (!decode_body(req, body, out)) return;
    handle_logs3(body, out);
    out.insert = out.status >= 200 && out.status < 300;
    return;
  }

  // Split /v1/<a>/<b>/<c> into at most three segments.
  std::string_view rest = path.substr(std::string_view("/v1").size());
  std::vector<std::string_view> segments;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const auto slash = rest.find('/');
    segments.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash);
  }
  if (!segments.empty() && segments.back().empty()) segments.pop_back();  // trailing '/'

  DecodedBody body;
  if (segments.size() >= 1 && segments[0] == "project" && segments.size() <= 2) {
    if (!decode_body(req, body, out)) return;
    if (segments.size() == 2) {
      if (verb != http::verb::get) return answer(out, 405, error_body("Method not allowed"));
      auto project = projects_.by_id(segments[1]);
      if (!project) return answer(out, 404, error_body("Project not found"));
      return answer(out, 200, json::serialize(*project));
    }
    return handle_project(req, query, body.text, out);
  }
  if (segments.size() == 3 && known_kind(segments[0]) && !segments[1].empty()) {
    const std::string_view kind = segments[0], id = segments[1], op = segments[2];
    if (op == "insert") {
      if (verb != http::verb::post) return answer(out, 405, error_body("Method not allowed"));
      if (!decode_body(req, body, out)) return;
      return handle_insert(kind, id, body, out);
    }
    if (op == "fetch") {
      if (verb != http::verb::post && verb != http::verb::get) {
        return answer(out, 405, error_body("Method not allowed"));
      }
      if (!decode_body(req, body, out)) return;
      return handle_fetch(kind, id, query, body.text, out);
    }
    if (op == "feedback") {
      if (verb != http::verb::post) return answer(out, 405, error_body("Method not allowed"));
      if (!decode_body(req, body, out)) return;
      return handle_feedback(kind, id, body.text, out);
    }
  }
  answer(out, 404, error_body("Not found"));
}

// ---- endpoints -------------------------------------------------------------------

void Service::handle_project(Request& req, std::string_view query, std::string_view body, Outcome& out) {
  if (req.method() == http::verb::get) {
    json::array objects;
    if (auto name = query_param(query, "project_name")) {
      if (auto project = projects_.by_name(*name)) objects.push_back(std::move(*project));
    } else {
      for (auto& project : projects_.all()) objects.push_back(std::move(project));
    }
    json::object result;
    result["objects"] = std::move(objects);
    return answer(out, 200, json::serialize(result));
  }
  if (req.method() != http::verb::post) return answer(out, 405, error_body("Method not allowed"));
  auto request = parse_object(body, false);
  if (!request) return bad_request(out, "body must be a JSON object");
  const auto* name = request->if_contains("name");
  if (name == nullptr || !name->is_string() || name->get_string().empty()) {
    return bad_request(out, "name must be a non-empty string");
  }
  const auto* org_name = request->if_contains("org_name");
  if (org_name != nullptr && !org_name->is_string() && !org_name->is_null()) {
    return bad_request(out, "org_name must be a string");
  }
  bool created = false;
  const json::object project = projects_.get_or_create(name->get_string(), created);
  answer(out, 200, json::serialize(project));
}

void Service::handle_logs3(DecodedBody body, Outcome& out) {
  json::monotonic_resource arena(body.text.size() * 2 + 4096);
  boost::system::error_code ec;
  json::value parsed = json::parse(body.text, ec, &arena);
  if (ec) return bad_request(out, "body is not valid JSON: " + ec.message());
  auto* root = parsed.if_object();
  auto* rows_value = root == nullptr ? nullptr : root->if_contains("rows");
  if (rows_value == nullptr || !rows_value->is_array()) return bad_request(out, "body must have a \"rows\" array");
  // Rows grouped by object in order of first appearance; each group is applied in row order,
  // as an insert to that object would be.
  struct Group {
    std::string kind, id;
    json::array rows;
  };
  std::vector<Group> groups;
  std::vector<std::string> ids;
  json::array& rows = rows_value->get_array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto* row = rows[i].if_object();
    const std::string where = "rows[" + std::to_string(i) + "]";
    if (row == nullptr) return bad_request(out, where + " must be an object");
    auto take = [&](std::string_view key) -> std::optional<std::string> {
      auto* value = row->if_contains(key);
      if (value == nullptr || !value->is_string()) return std::nullopt;
      std::string text(value->get_string());
      row->erase(key);
      return text;
    };
    std::string kind;
    std::optional<std::string> object;
    if ((object = take("experiment_id"))) {
      kind = "experiment";
    } else if ((object = take("dataset_id"))) {
      kind = "dataset";
    } else if ((object = take("project_id"))) {
      if (take("log_id") != "g") return bad_request(out, where + ": project_id needs log_id \"g\"");
      kind = "project_logs";
    } else {
      return bad_request(out, where + " names no object");
    }
    auto* row_id = row->if_contains("id");
    if (row_id == nullptr || row_id->is_null()) {
      (*row)["id"] = make_uuid_v4();
    } else if (!row_id->is_string()) {
      return bad_request(out, where + ".id must be a string");
    }
    ids.emplace_back(row->at("id").get_string());
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const Group& g) { return g.kind == kind && g.id == *object; });
    if (group == groups.end()) group = groups.insert(groups.end(), Group{kind, *object, {}});
    group->rows.push_back(std::move(rows[i]));
  }
  out.events = rows.size();
  for (Group& group : groups) {
    const InsertCounts counts = store_.apply(group.kind, group.id, group.rows);
    out.rows.rows += counts.rows;
    out.rows.unique += counts.unique;
    out.rows.duplicates += counts.duplicates;
  }
  answer(out, 200, row_ids_body(ids));
}

void Service::handle_insert(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out) {
  if (store_.mode() == StoreMode::full) {
    handle_insert_full(kind, id, body, out);
  } else {
    handle_insert_ids(kind, id, body, out);
  }
  out.insert = out.status >= 200 && out.status < 300;
}

void Service::handle_insert_full(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out) {
  // The parsed request lives in one arena freed at once; the store keeps rows as
  // text, so nothing here needs a per-node allocation.
  json::monotonic_resource arena(body.text.size() * 2 + 4096);
  boost::system::error_code ec;
  json::value parsed = json::parse(body.text, ec, &arena);
  if (ec) return bad_request(out, "body is not valid JSON: " + ec.message());
  auto* root = parsed.if_object();
  if (root == nullptr) return bad_request(out, "body must be a JSON object");
  auto* events_value = root->if_contains("events");
  if (events_value == nullptr || !events_value->is_array()) {
    return bad_request(out, "body must have an \"events\" array");
  }
  json::array& events = events_value->get_array();
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto* event = events[i].if_object();
    if (event == nullptr) return bad_request(out, "events[" + std::to_string(i) + "] must be an object");
    auto* row_id = event->if_contains("id");
    if (row_id == nullptr || row_id->is_null()) {
      (*event)["id"] = make_uuid_v4();
    } else if (!row_id->is_string()) {
      return bad_request(out, "events[" + std::to_string(i) + "].id must be a string");
    }
  }
  // The answer is built before the store strips control fields, which may move
  // the ids the views point at.
  std::vector<std::string_view> ids;
  ids.reserve(events.size());
  for (const auto& event : events) ids.push_back(event.get_object().at("id").get_string());
  std::string answer_body = row_ids_body(ids);
  ids.clear();
  out.events = events.size();
  out.rows = store_.apply(kind, id, events);
  answer(out, 200, std::move(answer_body));
}

void Service::handle_insert_ids(std::string_view kind, std::string_view id, DecodedBody body, Outcome& out) {
  std::vector<std::string_view> ids;
  std::deque<std::string> assigned;  // stable addresses for the views in `ids`
  const InsertIds read = read_insert_ids(body, ids, assigned);
  const auto event = [&read] { return "events[" + std::to_string(read.index) + "]"; };
  switch (read.error) {
    case InsertBodyError::none:
      break;
    case InsertBodyError::invalid_json:
      return bad_request(out, "body is not valid JSON");
    case InsertBodyError::not_object:
      return bad_request(out, "body must be a JSON object");
    case InsertBodyError::no_events_array:
      return bad_request(out, "body must have an \"events\" array");
    case InsertBodyError::event_not_object:
      return bad_request(out, event() + " must be an object");
    case InsertBodyError::id_not_string:
      return bad_request(out, event() + ".id must be a string");
  }
  out.events = ids.size();
  out.rows = store_.count_ids(kind, id, ids);
  answer(out, 200, row_ids_body(ids));
}

void Service::handle_fetch(std::string_view kind, std::string_view id, std::string_view query,
                           std::string_view body, Outcome& out) {
  auto request = parse_object(body, true);
  if (!request) return bad_request(out, "body must be a JSON object");
  std::size_t limit = kDefaultFetchLimit, offset = 0;

  const auto* limit_value = request->if_contains("limit");
  std::optional<double> limit_number;
  if (limit_value != nullptr && !limit_value->is_null()) {
    limit_number = as_number(*limit_value);
    if (!limit_number) return bad_request(out, "limit must be a number");
  } else if (auto text = query_param(query, "limit")) {
    char* end = nullptr;
    limit_number = std::strtod(text->c_str(), &end);
    if (end == text->c_str() || *end != '\0') return bad_request(out, "limit must be a number");
  }
  if (limit_number) {
    if (!(*limit_number >= 1) || *limit_number != std::floor(*limit_number) || *limit_number > 1e9) {
      return bad_request(out, "limit must be a positive integer");
    }
    limit = static_cast<std::size_t>(*limit_number);
  }

  std::optional<std::string> cursor;
  const auto* cursor_value = request->if_contains("cursor");
  if (cursor_value != nullptr && !cursor_value->is_null()) {
    if (!cursor_value->is_string()) return bad_request(out, "cursor must be a string");
    cursor = std::string(cursor_value->get_string());
  } else {
    cursor = query_param(query, "cursor");
  }
  if (cursor) {
    // The cursor is the offset of the next page, in decimal.
    char* end = nullptr;
    const unsigned long long parsed = std::strtoull(cursor->c_str(), &end, 10);
    if (cursor->empty() || *end != '\0') return bad_request(out, "invalid cursor");
    offset = static_cast<std::size_t>(parsed);
  }

  FetchPage page = store_.fetch(kind, id, offset, limit);
  json::object result;
  json::array events;
  events.reserve(page.events.size());
  for (auto& event : page.events) events.push_back(std::move(event));
  out.events = events.size();
  // As the real API: a cursor with every non-empty page, none with an empty one.
  if (!events.empty()) result["cursor"] = std::to_string(offset + events.size());
  result["events"] = std::move(events);
  answer(out, 200, json::serialize(result));
}

void Service::handle_feedback(std::string_view kind, std::string_view id, std::string_view body,
                              Outcome& out) {
  auto request = parse_object(body, false);
  if (!request) return bad_request(out, "body must be a JSON object");
  const auto* items = request->if_contains("feedback");
  if (items == nullptr || !items->is_array()) return bad_request(out, "body must have a \"feedback\" array");
  std::size_t index = 0;
  for (const auto& item : items->get_array()) {
    const auto* object = item.if_object();
    const auto* item_id = object == nullptr ? nullptr : object->if_contains("id");
    if (item_id == nullptr || !item_id->is_string()) {
      return bad_request(out, "feedback[" + std::to_string(index) + "] must be an object with a string id");
    }
    ++index;
  }
  store_.apply_feedback(kind, id, items->get_array());
  out.events = index;
  out.feedback_items = index;
  answer(out, 200, R"j({"status":"success"})j");
}

// ---- control endpoints (no auth, no faults, not counted) ------------------------

Outcome Service::handle_control(Request& req, std::string_view path) {
  Outcome out;
  const auto verb = req.method();
  if (path == "/_fake/stats") {
    if (verb != http::verb::get) answer(out, 405, error_body("Method not allowed"));
    else answer(out, 200, stats_json());
  } else if (path == "/_fake/reset") {
    if (verb != http::verb::post) answer(out, 405, error_body("Method not allowed"));
    else {
      reset();
      answer(out, 200, R"j({"status":"success"})j");
    }
  } else if (path == "/_fake/faults") {
    if (verb == http::verb::get) {
      answer(out, 200, json::serialize(faults_to_json(faults_.config())));
    } else if (verb == http::verb::post) {
      auto request = parse_object(req.body(), true);
      if (!request) {
        bad_request(out, "body must be a JSON object");
      } else {
        try {
          faults_.replace(faults_from_json(*request));
          answer(out, 200, json::serialize(faults_to_json(faults_.config())));
        } catch (const std::invalid_argument& e) {
          bad_request(out, e.what());
        }
      }
    } else {
      answer(out, 405, error_body("Method not allowed"));
    }
  } else {
    answer(out, 404, error_body("Not found"));
  }
  return out;
}

// ---- counters ----------------------------------------------------------------------

void Service::record(const Outcome& outcome) {
  if (!outcome.counted) return;
  RequestRecord entry{std::chrono::system_clock::now(), outcome.method, outcome.target,
                      outcome.reset ? 0 : static_cast<int>(outcome.status),
                      outcome.content_encoding, outcome.events};
  const std::int64_t now_ms = outcome.status == 429 && !outcome.reset ? unix_ms_now() : 0;
  std::lock_guard lock(counters_mutex_);
  StatsSnapshot& s = counters_.stats;
  ++s.requests_total;
  s.bytes_received += outcome.bytes_received;
  if (outcome.reset) {
    ++s.resets;
  } else {
    ++s.requests[static_cast<int>(outcome.status)];
    if (outcome.status == 429) s.last_429_at_ms = now_ms;
    s.bytes_decoded += outcome.bytes_decoded;
    if (!outcome.decoded_encoding.empty()) ++s.encodings[outcome.decoded_encoding];
    if (outcome.insert) {
      ++s.inserts;
      s.rows_received += outcome.rows.rows;
      s.unique_rows += outcome.rows.unique;
      s.duplicate_rows += outcome.rows.duplicates;
    }
    s.feedback_items += outcome.feedback_items;
  }
  counters_.log.push_back(std::move(entry));
  if (counters_.log.size() > log_limit_) {
    counters_.log.pop_front();
    ++counters_.log_dropped;
  }
}

StatsSnapshot Service::stats() const {
  std::lock_guard lock(counters_mutex_);
  return counters_.stats;
}

std::vector<RequestRecord> Service::request_log() const {
  std::lock_guard lock(counters_mutex_);
  return {counters_.log.begin(), counters_.log.end()};
}

std::string Service::stats_json() const {
  StatsSnapshot s;
  std::uint64_t log_dropped = 0;
  {
    std::lock_guard lock(counters_mutex_);
    s = counters_.stats;
    log_dropped = counters_.log_dropped;
  }
  json::object out;
  json::object requests;
  for (const auto& [status, count] : s.requests) requests[std::to_string(status)] = count;
  out["requests"] = std::move(requests);
  out["requests_total"] = s.requests_total;
  out["rows_received"] = s.rows_received;
  out["unique_rows"] = s.unique_rows;
  out["duplicate_rows"] = s.duplicate_rows;
  out["bytes_received"] = s.bytes_received;
  out["bytes_decoded"] = s.bytes_decoded;
  out["last_429_at_ms"] = s.last_429_at_ms;
  out["inserts"] = s.inserts;
  out["resets"] = s.resets;
  out["feedback_items"] = s.feedback_items;
  json::object encodings;
  for (const auto& [encoding, count] : s.encodings) encodings[encoding] = count;
  out["encodings"] = std::move(encodings);
  out["request_log_dropped"] = log_dropped;
  out["store"] = store_.mode() == StoreMode::full ? "full" : "ids";
  return json::serialize(out);
}

void Service::reset() {
  store_.clear();
  Counters old;  // freed outside the lock
  {
    std::lock_guard lock(counters_mutex_);
    std::swap(old, counters_);
  }
}

}  // namespace spanline::fakeapi::detail
