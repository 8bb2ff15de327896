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

HttpResponse durable_answer(const HttpRequest& head, Logger::DurableResult result, std::string row_ids,
                            std::size_t rows, std::string_view noun) {
  if (result == Logger::DurableResult::durable) return make_response(head, 200, std::move(row_ids));
  return retry_later(head, "{\"error\":{\"message\":\"the request's " + std::to_string(rows) + " " +
                               std::string(noun) + " were not made durable; retry the same request\",\"reason\":\"" +
                               std::string(durable_result_name(result)) + "\"}}");
}

}  // namespace spanline::agent
