#include "http_ingest.hpp"

#include "core/destination_id.hpp"
#include "ingest_answers.hpp"
#include "logs3.hpp"
#include "otlp_http.hpp"
#include "request_body.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <optional>

namespace spanline::agent {

namespace http = boost::beast::http;

namespace {

struct Route {
  Destination::Kind kind;
  std::string id;
};

// "/v1/<kind>/<id>/insert" (query string ignored).
std::optional<Route> parse_route(std::string_view target) {
  target = target.substr(0, target.find('?'));
  constexpr std::string_view prefix = "/v1/";
  constexpr std::string_view suffix = "/insert";
  if (target.rfind(prefix, 0) != 0 || target.size() <= prefix.size() + suffix.size() ||
      target.substr(target.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  const std::string_view middle = target.substr(prefix.size(), target.size() - prefix.size() - suffix.size());
  const std::size_t slash = middle.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view kind = middle.substr(0, slash);
  const std::string_view id = middle.substr(slash + 1);
  if (!detail::valid_destination_id(id)) return std::nullopt;
  if (kind == "project_logs") return Route{Destination::Kind::project_logs, std::string(id)};
  if (kind == "experiment") return Route{Destination::Kind::experiment, std::string(id)};
  if (kind == "dataset") return Route{Destination::Kind::dataset, std::string(id)};
  return std::nullopt;
}

// "/v1/{project_logs|experiment|dataset}/<anything>/insert": an insert, whatever its id. One
// with an invalid id is refused here, never forwarded upstream with that id in its path.
bool insert_shaped(std::string_view target) {
  target = target.substr(0, target.find('?'));
  for (const std::string_view kind : {"/v1/project_logs/", "/v1/experiment/", "/v1/dataset/"}) {
    if (target.rfind(kind, 0) == 0 && target.size() > kind.size() + 7 && target.ends_with("/insert")) return true;
  }
  return false;
}

std::string error_json(std::string_view message) {
  std::string out = R"({"error":{"message":")";
  out += message;  // only our own fixed texts, no quotes to escape
  out += "\"}}";
  return out;
}

class IngestHandler {
 public:
  IngestHandler(IngestSink& sink, const IngestConfig& config, IngestAuth auth,
                std::shared_ptr<ApiProxy> proxy)
      : sink_(sink),
        proxy_(std::move(proxy)),
        max_body_(config.max_body_bytes),
        ack_timeout_(config.ack_timeout),
        auth_(std::make_shared<const IngestAuth>(std::move(auth))),
        logs3_(sink, config.max_body_bytes, config.ack_timeout),
        otlp_(make_otlp_traces_handler(sink, config)) {}

  // Authentication comes before routing, so that every route (present and future) has it.
  std::optional<HttpResponse> operator()(HttpRequest& request, const HttpResponder& responder) {
    std::optional<HttpResponse> response = auth_->preflight(request);
    if (!response) {
      if (auto refused = auth_->check(request)) {
        response = refusal(request, *refused);
      } else {
        response = handle(request, with_cors(request, responder));
      }
    }
    if (response) {
      auth_->add_cors_headers(request[http::field::origin], *response);
      sink_.counters().count_http_response(response->result_int());
    }
    return response;
  }

 private:
  HttpResponse refusal(const HttpRequest& request, const IngestAuth::Refused& refused) {
    sink_.counters().count_auth_refused(static_cast<std::size_t>(refused.reason));
    HttpResponse response = make_response(request, refused.status, refused.body);
    if (refused.status == 401) response.set(http::field::www_authenticate, "Bearer realm=\"spanlined\"");
    return response;
  }

  // A deferred answer gets the CORS headers an immediate one would.
  HttpResponder with_cors(const HttpRequest& request, const HttpResponder& responder) const {
    const std::string_view origin = request[http::field::origin];
    if (origin.empty()) return responder;
    return HttpResponder{responder.executor,
                         [auth = auth_, origin = std::string(origin),
                          respond = responder.respond](HttpResponse response) {
                           auth->add_cors_headers(origin, response);
                           respond(std::move(response));
                         },
                         [auth = auth_, origin = std::string(origin),
                          respond = responder.respond_streamed](StreamedResponse streamed) {
                           HttpResponse cors;
                           auth->add_cors_headers(origin, cors);
                           for (const auto& field : cors) streamed.head.set(field.name_string(), field.value());
                           respond(std::move(streamed));
                         }};
  }

  std::optional<HttpResponse> handle(HttpRequest& request, const HttpResponder& responder) {
    const std::string_view target = request.target();
    if (target == "/version" || target.rfind("/version?", 0) == 0) {
      if (request.method() != http::verb::get) return not_allowed(request, "GET");
      return make_response(request, 200, "{\"logs3_payload_max_bytes\":" + std::to_string(max_body_) + "}");
    }
    if (is_otlp_traces_path(target)) return otlp_(request, responder);
    const std::string_view path = target.substr(0, target.find('?'));
    if (path == "/logs3" || path == "/logs3/overflow") {
      if (request.method() != http::verb::post) return not_allowed(request, "POST");
      if (path == "/logs3/overflow") return logs3_.overflow(request);
      if (auto refused = IngestAuth::check_json_content_type(request)) return refusal(request, *refused);
      return logs3_.post(request, responder);
    }
    const auto route = parse_route(target);
    if (!route && insert_shaped(target)) {
      return make_response(request, 404,
                           error_json("not found: the object id in the path must be 1 to 128 characters from "
                                      "A-Z a-z 0-9 - _ . and not . or .."));
    }
    if (!route && proxy_) {
      proxy_->forward(std::move(request), responder);
      return std::nullopt;
    }
    if (!route)
      return make_response(
          request, 404,
          error_json("not found: use POST /v1/{project_logs|experiment|dataset}/{id}/insert or POST /logs3"));
    if (request.method() != http::verb::post) return not_allowed(request, "POST");
    if (auto refused = IngestAuth::check_json_content_type(request)) return refusal(request, *refused);
    auto& counters = sink_.counters().at(Listener::http);
    counters.bytes.fetch_add(request.body().size(), std::memory_order_relaxed);
    if (auto failure = decode_request_body(request, max_body_, "ingest.max_body_bytes")) {
      return make_response(request, failure->status, error_json(failure->message));
    }

    thread_local std::vector<detail::IngestEvent> events;
    if (auto failure = detail::parse_insert_body(request.body(), sink_.parser(), events)) {
      sink_.report_invalid(Listener::http, failure->reason, failure->offset, peer(request, failure->index));
      return make_response(request, 400, detail::insert_failure_json(*failure));
    }
    Destination destination;
    destination.kind = route->kind;
    destination.id = route->id;
    const DestinationHandle to = sink_.handle_for(destination);

    if (sink_.durable()) {
      commit_durable(request, to, events, responder);
      return std::nullopt;
    }

    return queue_rows(request, to, events, responder);
  }

  // Once the pipeline refuses a row (memory budget full under a drop policy, still no room
  // after ingest.ack_timeout_ms under block or spill, or shutting down) the rest of the
  // request is not offered: the client resends the whole request anyway. Waiting for room
  // never holds this I/O thread: the answer is then written when the rows are settled.
  // A row larger than the API's payload limit is refused for good; the others still go,
  // and the answer says so (413).
  std::optional<HttpResponse> queue_rows(const HttpRequest& request, DestinationHandle to,
                                         std::vector<detail::IngestEvent>& events,
                                         const HttpResponder& responder) {
    std::string row_ids = row_ids_json(events);
    std::vector<IngestSink::RoutedRow> rows;
    rows.reserve(events.size());
    for (auto& event : events) rows.push_back(IngestSink::RoutedRow{to, std::move(event.row)});
    events.clear();
    return queue_and_answer(sink_, request, std::move(rows), std::move(row_ids), "events", ack_timeout_, responder);
  }

  // ingest.ack = "durable": the whole request goes to the spool (one record, one fsync, shared
  // with whatever other requests the same group commit carries) and 200 means it is on disk.
  // The answer is written when the commit settles; this I/O thread does not wait for it. On
  // any failure nothing was acknowledged; the client retries the same request, and row ids
  // make a row written twice harmless.
  void commit_durable(const HttpRequest& request, DestinationHandle to,
                      std::vector<detail::IngestEvent>& events, const HttpResponder& responder) {
    std::string row_ids = row_ids_json(events);
    DurableBatch batch;
    for (auto& event : events) batch.add(to, std::move(event.row));
    events.clear();
    commit_and_answer(sink_, request, std::move(batch), std::move(row_ids), "events", responder);
  }

  static std::string peer(const HttpRequest& request, std::optional<std::size_t> index) {
    std::string out(request.target());
    if (index) out += " event " + std::to_string(*index);
    return out;
  }

  static HttpResponse not_allowed(const HttpRequest& request, std::string_view allow) {
    HttpResponse response = make_response(request, 405, error_json("method not allowed"));
    response.set(http::field::allow, allow);
    return response;
  }

  IngestSink& sink_;
  std::shared_ptr<ApiProxy> proxy_;
  std::size_t max_body_;
  std::chrono::milliseconds ack_timeout_;  // longest wait for room before a 503
  // Shared with deferred answers, which may outlive a copy of this handler.
  std::shared_ptr<const IngestAuth> auth_;
  Logs3Route logs3_;
  DeferringHttpHandler otlp_;  // POST /v1/traces, /otel/v1/traces (otlp_http.hpp)
};

}  // namespace

DeferringHttpHandler make_ingest_handler(IngestSink& sink, const IngestConfig& config, IngestAuth auth,
                                         std::shared_ptr<ApiProxy> proxy) {
  return IngestHandler(sink, config, std::move(auth), std::move(proxy));
}

}  // namespace spanline::agent
