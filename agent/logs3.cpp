#include "logs3.hpp"

#include "ingest_answers.hpp"
#include "request_body.hpp"

#include <boost/beast/http/field.hpp>

#include <string>
#include <vector>

namespace spanline::agent {

namespace http = boost::beast::http;

namespace {

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
    rows.clear();
    commit_and_answer(sink_, request, std::move(batch), std::move(answer), "rows", responder);
    return std::nullopt;
  }

  // As the insert route: rows are offered in order without holding this I/O thread; once
  // the pipeline refuses one (no room within ingest.ack_timeout_ms, a drop policy, shutting
  // down) the rest is not offered: the SDK resends the whole request, and row ids make the
  // rows queued twice harmless. A row over the API's payload limit is dropped for good and
  // the others still go.
  std::vector<IngestSink::RoutedRow> routed;
  routed.reserve(rows.size());
  for (auto& row : rows) routed.push_back(IngestSink::RoutedRow{handle(*row.destination), std::move(row.row)});
  rows.clear();
  return queue_and_answer(sink_, request, std::move(routed), std::move(answer), "rows", ack_timeout_, responder);
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
