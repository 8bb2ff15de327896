#include "logs3.hpp"

#include "request_body.hpp"

#include <boost/beast/http/field.hpp>

#include <string>
#include <vector>

namespace spanline::agent {

namespace http = boost::beast::http;

namespace {

std::string row_ids_json(const std::vector<detail::IngestEvent>& rows) {
  std::string body = "{\"row_ids\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const PreparedRow& row = rows[i].row;
    if (i > 0) body += ',';
    body += '"';
    body.append(row.json, row.id_offset, row.id_size);  // raw JSON string content, already escaped
    body += '"';
  }
  body += "]}";
  return body;
}

HttpResponse retry_later(const HttpRequest& request, std::string body) {
  HttpResponse response = make_response(request, 503, std::move(body));
  response.set(http::field::retry_after, "1");
  return response;
}

// The handle of each row's destination: a request's rows nearly always name one object, so
// the last one is kept and the sink's map is only asked when the object changes.
class DestinationCache {
 public:
  explicit DestinationCache(IngestSink& sink) : sink_(sink) {}
  DestinationHandle operator()(const Destination& destination) {
    if (!last_ || last_->first.kind != destination.kind || last_->first.id != destination.id) {
      last_.emplace(destination, sink_.handle_for(destination));
    }
    return last_->second;
  }

 private:
  IngestSink& sink_;
  std::optional<std::pair<Destination, DestinationHandle>> last_;
};

}  // namespace

std::optional<HttpResponse> Logs3Route::post(HttpRequest& request, const HttpResponder& responder) {
  auto& counters = sink_.counters().at(Listener::http);
  counters.bytes.fetch_add(request.body().size(), std::memory_order_relaxed);
  if (auto failure = decode_request_body(request, max_body_, "ingest.max_body_bytes")) {
    return make_response(request, failure->status, R"({"error":{"message":")" + failure->message + R"("}})");
  }
  thread_local std::vector<detail::IngestEvent> rows;
  if (auto failure = detail::parse_logs3_body(request.body(), sink_.parser(), rows)) {
    std::string peer = "/logs3";
    if (failure->index) peer += " row " + std::to_string(*failure->index);
    sink_.report_invalid(Listener::http, failure->reason, failure->offset, peer);
    rows.clear();
    return make_response(request, 400, detail::insert_failure_json(*failure, "row_index"));
  }
  std::string answer = row_ids_json(rows);
  DestinationCache handle(sink_);

  if (sink_.durable()) {
    // As the insert route: one spool record per destination, 200 once fsynced; the answer is
    // written when the commit settles, and this I/O thread goes on meanwhile.
    DurableBatch batch;
    for (auto& row : rows) batch.add(handle(*row.destination), std::move(row.row));
    const std::size_t count = batch.rows();
    rows.clear();
    HttpRequest head;
    head.version(request.version());
    head.keep_alive(request.keep_alive());
    sink_.commit_async(
        Listener::http, std::move(batch), responder.executor,
        [&sink = sink_, head = std::move(head), answer = std::move(answer), count,
         respond = responder.respond](Logger::DurableResult result) mutable {
          HttpResponse response =
              result == Logger::DurableResult::durable
                  ? make_response(head, 200, std::move(answer))
                  : retry_later(head,
                                "{\"error\":{\"message\":\"the request's " + std::to_string(count) +
                                    " rows were not made durable; retry the same request\",\"reason\":\"" +
                                    std::string(durable_result_name(result)) + "\"}}");
          sink.counters().count_http_response(response.result_int());
          respond(std::move(response));
        });
    return std::nullopt;
  }

  // As the insert route: once the pipeline refuses a row for lack of room or because it is
  // shutting down, the rest is not offered (the SDK resends the whole request, and row ids
  // make the rows queued twice harmless); a row over the API's payload limit is dropped for
  // good and the others still go.
  std::size_t queued = 0;
  std::size_t too_large = 0;
  std::optional<LogResult> stopped_by;
  for (auto& row : rows) {
    const LogResult result = sink_.queue(Listener::http, handle(*row.destination), std::move(row.row));
    if (result == LogResult::queued) {
      ++queued;
    } else if (result == LogResult::dropped_too_large) {
      ++too_large;
    } else {
      stopped_by = result;
      break;
    }
  }
  const std::size_t total = rows.size();
  rows.clear();
  if (stopped_by) {
    counters.not_queued.fetch_add(total - queued - too_large - 1, std::memory_order_relaxed);
    return retry_later(
        request, "{\"error\":{\"message\":\"" + std::to_string(total - queued) + " of the request's " +
                     std::to_string(total) + " rows were not queued (" +
                     (*stopped_by == LogResult::dropped_shutdown ? "shutting down" : "memory budget full") +
                     "); retry the same request\",\"reason\":\"" + std::string(to_string(*stopped_by)) +
                     "\",\"queued\":" + std::to_string(queued) + "}}");
  }
  if (too_large > 0) {
    return make_response(request, 413,
                         "{\"error\":{\"message\":\"" + std::to_string(too_large) + " of the request's " +
                             std::to_string(total) +
                             " rows are larger than the API's payload limit and were dropped\","
                             "\"reason\":\"dropped_too_large\",\"queued\":" +
                             std::to_string(queued) + "}}");
  }
  return make_response(request, 200, std::move(answer));
}

HttpResponse Logs3Route::overflow(const HttpRequest& request) const {
  return make_response(request, 413,
                       "{\"error\":{\"message\":\"spanlined does not take overflow uploads: send the rows "
                       "inline to /logs3 in bodies of at most " +
                           std::to_string(max_body_) +
                           " bytes (ingest.max_body_bytes, advertised by GET /version)\","
                           "\"reason\":\"overflow_not_supported\",\"max_body_bytes\":" +
                           std::to_string(max_body_) + "}}");
}

}  // namespace spanline::agent
