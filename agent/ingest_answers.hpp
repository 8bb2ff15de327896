#pragma once
// The answers the HTTP ingest routes share: what a client of the insert API or of /logs3
// is told about the rows of its request, once they are queued, made durable or refused.
// Both routes answer alike, so a client's retry logic works the same on either.

#include "http_server.hpp"
#include "ingest_sink.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::agent {

// {"row_ids":[...]} for the parsed rows, in request order.
std::string row_ids_json(const std::vector<detail::IngestEvent>& rows);

// Offers `rows` in order without holding the I/O thread (IngestSink::queue_rows, waiting up to
// `wait` for room). The answer: 200 with `row_ids`; 503 with Retry-After when a row was
// refused (the rest was not offered; resend the same request); 413 when rows over the API's
// payload limit were dropped. Returned when every row settled at once, else nothing now and
// the answer goes through `responder` later (counted then).
// `noun` must outlive the request (a string literal).
std::optional<HttpResponse> queue_and_answer(IngestSink& sink, const HttpRequest& request,
                                             std::vector<IngestSink::RoutedRow> rows, std::string row_ids,
                                             std::string_view noun, std::chrono::milliseconds wait,
                                             const HttpResponder& responder);

// ingest.ack = "durable": commits `batch` to the spool (group commit) and answers through
// `responder` once it settles: 200 with `row_ids` when every row is fsynced, else 503 with
// Retry-After and the reason. The I/O thread does not wait for it.
// `noun` must outlive the request (a string literal).
void commit_and_answer(IngestSink& sink, const HttpRequest& request, DurableBatch batch, std::string row_ids,
                       std::string_view noun, const HttpResponder& responder);

}  // namespace spanline::agent
