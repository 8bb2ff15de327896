#include "http_ingest.hpp"

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

bool url_safe(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

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
  if (!url_safe(id)) return std::nullopt;
  if (kind == "project_logs") return Route{Destination::Kind::project_logs, std::string(id)};
  if (kind == "experiment") return Route{Destination::Kind::experiment, std::string(id)};
  if (kind == "dataset") return Route{Destination::Kind::dataset, std::string(id)};
  return std::nullopt;
}

std::string error_json(std::string_view message) {
  std::string out = R"({"error":{"message":")";
  out += message;  // only our own fixed texts, no quotes to escape
  out += "\"}}";
  return out;
}

class IngestHandler {
 public:
  IngestHandler(IngestSink& sink, const IngestConfig& config)
      : sink_(sink), max_body_(config.max_body_bytes), otlp_(make_otlp_traces_handler(sink, config)) {}

  std::optional<HttpResponse> operator()(HttpRequest& request, const HttpResponder& responder) {
    std::optional<HttpResponse> response = handle(request, responder);
    if (response) sink_.counters().count_http_response(response->result_int());
    return response;
  }

 private:
  std::optional<HttpResponse> handle(HttpRequest& request, const HttpResponder& responder) {
    const std::string_view target = request.target();
    if (target == "/version" || target.rfind("/version?", 0) == 0) {
      if (request.method() != http::verb::get) return not_allowed(request, "GET");
      return make_response(request, 200, "{\"logs3_payload_max_bytes\":" + std::to_string(max_body_) + "}");
    }
    if (is_otlp_traces_path(target)) return otlp_(request, responder);
    const auto route = parse_route(target);
    if (!route)
      return make_response(
          request, 404, error_json("not found: use POST /v1/{project_logs|experiment|dataset}/{id}/insert"));
    if (request.method() != http::verb::post) return not_allowed(request, "POST");
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

    // Once the pipeline refuses a row for lack of room (queue full, or a `block` that timed
    // out) or because it is shutting down, the rest of the request is not offered: under
    // `block` every further row would hold this I/O thread for another
    // queue.block_timeout_ms, and the client resends the whole request anyway. So when the
    // budget is already full, nothing of the request is queued. A row larger than the API's
    // payload limit is refused for good; the others still go, and the answer says so (413).
    std::string body = row_ids_json(events);
    std::size_t queued = 0;
    std::size_t too_large = 0;
    std::optional<LogResult> stopped_by;
    for (auto& event : events) {
      const LogResult result = sink_.queue(Listener::http, to, std::move(event.row));
      if (result == LogResult::queued) {
        ++queued;
      } else if (result == LogResult::dropped_too_large) {
        ++too_large;
      } else {
        stopped_by = result;
        break;
      }
    }
    const std::size_t total = events.size();
    events.clear();
    if (stopped_by) {
      const std::size_t not_offered = total - queued - too_large - 1;
      counters.not_queued.fetch_add(not_offered, std::memory_order_relaxed);
      HttpResponse response = make_response(
          request, 503,
          "{\"error\":{\"message\":\"" + std::to_string(total - queued) + " of the request's " +
              std::to_string(total) + " events were not queued (" +
              (*stopped_by == LogResult::dropped_shutdown ? "shutting down" : "memory budget full") +
              "); retry the same request\",\"reason\":\"" + std::string(to_string(*stopped_by)) +
              "\",\"queued\":" + std::to_string(queued) + "}}");
      response.set(http::field::retry_after, "1");
      return response;
    }
    if (too_large > 0) {
      return make_response(request, 413,
                           "{\"error\":{\"message\":\"" + std::to_string(too_large) + " of the request's " +
                               std::to_string(total) +
                               " events are larger than the API's payload limit and were dropped\","
                               "\"reason\":\"dropped_too_large\",\"queued\":" +
                               std::to_string(queued) + "}}");
    }
    return make_response(request, 200, std::move(body));
  }

  // ingest.ack = "durable": the whole request goes to the spool (one record, one fsync, shared
  // with whatever other requests the same group commit carries) and 200 means it is on disk.
  // The answer is written when the commit settles; this I/O thread does not wait for it. On
  // any failure nothing was acknowledged; the client retries the same request, and row ids
  // make a row written twice harmless.
  void commit_durable(const HttpRequest& request, DestinationHandle to,
                      std::vector<detail::IngestEvent>& events, const HttpResponder& responder) {
    std::string body = row_ids_json(events);
    DurableBatch batch;
    for (auto& event : events) batch.add(to, std::move(event.row));
    const std::size_t rows = batch.rows();
    events.clear();
    // What the answer needs of the request: it is gone by the time the commit settles.
    HttpRequest head;
    head.version(request.version());
    head.keep_alive(request.keep_alive());
    sink_.commit_async(Listener::http, std::move(batch), responder.executor,
                       [&sink = sink_, head = std::move(head), body = std::move(body), rows,
                        respond = responder.respond](Logger::DurableResult result) mutable {
                         HttpResponse response = durable_answer(head, result, std::move(body), rows);
                         sink.counters().count_http_response(response.result_int());
                         respond(std::move(response));
                       });
  }

  static HttpResponse durable_answer(const HttpRequest& head, Logger::DurableResult result,
                                     std::string row_ids, std::size_t rows) {
    if (result == Logger::DurableResult::durable) return make_response(head, 200, std::move(row_ids));
    HttpResponse response =
        make_response(head, 503,
                      "{\"error\":{\"message\":\"the request's " + std::to_string(rows) +
                          " events were not made durable; retry the same request\",\"reason\":\"" +
                          std::string(durable_result_name(result)) + "\"}}");
    response.set(http::field::retry_after, "1");
    return response;
  }

  static std::string row_ids_json(const std::vector<detail::IngestEvent>& events) {
    std::string body = "{\"row_ids\":[";
    for (std::size_t i = 0; i < events.size(); ++i) {
      const PreparedRow& row = events[i].row;
      if (i > 0) body += ',';
      body += '"';
      body.append(row.json, row.id_offset, row.id_size);  // raw JSON string content, already escaped
      body += '"';
    }
    body += "]}";
    return body;
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
  std::size_t max_body_;
  DeferringHttpHandler otlp_;  // POST /v1/traces, /otel/v1/traces (otlp_http.hpp)
};

}  // namespace

DeferringHttpHandler make_ingest_handler(IngestSink& sink, const IngestConfig& config) {
  return IngestHandler(sink, config);
}

}  // namespace spanline::agent
