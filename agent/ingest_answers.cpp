#include "ingest_answers.hpp"

#include "durable_ingest.hpp"

#include <boost/beast/http/field.hpp>

namespace spanline::agent {

namespace http = boost::beast::http;

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

namespace {

// 503 with Retry-After: nothing (or not everything) was taken; resend the same request.
HttpResponse retry_later(const HttpRequest& request, std::string body) {
  HttpResponse response = make_response(request, 503, std::move(body));
  response.set(http::field::retry_after, "1");
  return response;
}

HttpResponse queued_answer(const HttpRequest& head, const IngestSink::QueueOutcome& outcome, std::string row_ids,
                           std::string_view noun) {
  const std::string of_total = " of the request's " + std::to_string(outcome.total) + " " + std::string(noun);
  if (outcome.stopped_by) {
    const LogResult reason = *outcome.stopped_by;
    return retry_later(head, "{\"error\":{\"message\":\"" + std::to_string(outcome.total - outcome.queued) +
                                 of_total + " were not queued (" +
                                 (reason == LogResult::dropped_shutdown ? "shutting down" : "memory budget full") +
                                 "); retry the same request\",\"reason\":\"" + std::string(to_string(reason)) +
                                 "\",\"queued\":" + std::to_string(outcome.queued) + "}}");
  }
  if (outcome.too_large > 0) {
    return make_response(head, 413,
                         "{\"error\":{\"message\":\"" + std::to_string(outcome.too_large) + of_total +
                             " are larger than the API's payload limit and were dropped\","
                             "\"reason\":\"dropped_too_large\",\"queued\":" +
                             std::to_string(outcome.queued) + "}}");
  }
  return make_response(head, 200, std::move(row_ids));
}

HttpResponse durable_answer(const HttpRequest& head, DurableResult result, std::string row_ids,
                            std::size_t rows, std::string_view noun) {
  if (result == DurableResult::durable) return make_response(head, 200, std::move(row_ids));
  return retry_later(head, "{\"error\":{\"message\":\"the request's " + std::to_string(rows) + " " +
                               std::string(noun) + " were not made durable; retry the same request\",\"reason\":\"" +
                               std::string(durable_result_name(result)) + "\"}}");
}

// What an answer needs of its request, kept once the request itself is gone.
HttpRequest answer_head(const HttpRequest& request) {
  HttpRequest head;
  head.version(request.version());
  head.keep_alive(request.keep_alive());
  return head;
}

}  // namespace

std::optional<HttpResponse> queue_and_answer(IngestSink& sink, const HttpRequest& request,
                                             std::vector<IngestSink::RoutedRow> rows, std::string row_ids,
                                             std::string_view noun, std::chrono::milliseconds wait,
                                             const HttpResponder& responder) {
  auto ids = std::make_shared<std::string>(std::move(row_ids));
  const auto outcome = sink.queue_rows(
      Listener::http, std::move(rows), responder.executor, wait,
      [&sink, head = answer_head(request), ids, noun,
       respond = responder.respond](const IngestSink::QueueOutcome& settled) {
        HttpResponse response = queued_answer(head, settled, std::move(*ids), noun);
        sink.counters().count_http_response(response.result_int());
        respond(std::move(response));
      });
  if (!outcome) return std::nullopt;
  return queued_answer(request, *outcome, std::move(*ids), noun);
}

void commit_and_answer(IngestSink& sink, const HttpRequest& request, DurableBatch batch, std::string row_ids,
                       std::string_view noun, const HttpResponder& responder) {
  const std::size_t rows = batch.rows();
  sink.commit_async(Listener::http, std::move(batch), responder.executor,
                    [&sink, head = answer_head(request), row_ids = std::move(row_ids), rows, noun,
                     respond = responder.respond](DurableResult result) mutable {
                      HttpResponse response = durable_answer(head, result, std::move(row_ids), rows, noun);
                      sink.counters().count_http_response(response.result_int());
                      respond(std::move(response));
                    });
}

}  // namespace spanline::agent
