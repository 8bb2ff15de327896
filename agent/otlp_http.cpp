#include "otlp_http.hpp"

#include "core/destination_id.hpp"

#include "otlp/otlp_decode.hpp"
#include "otlp/otlp_response.hpp"
#include "otlp/otlp_rows.hpp"
#include "request_body.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <cctype>

namespace spanline::agent {

namespace http = boost::beast::http;

bool is_otlp_traces_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  return target == "/v1/traces" || target == "/otel/v1/traces";
}

namespace {

// gRPC codes for google.rpc.Status bodies.
constexpr std::int32_t kInvalidArgument = 3;
constexpr std::int32_t kResourceExhausted = 8;
constexpr std::int32_t kUnavailable = 14;
constexpr std::int32_t kUnimplemented = 12;

std::optional<otlp::Encoding> encoding_of(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  while (!content_type.empty() && content_type.front() == ' ') content_type.remove_prefix(1);
  std::string lower(content_type);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "application/x-protobuf") return otlp::Encoding::protobuf;
  if (lower == "application/json") return otlp::Encoding::json;
  return std::nullopt;
}

// x-bt-parent, as Braintrust's own OTLP endpoint reads it. Empty: the header is malformed.
std::optional<Destination> parse_parent(std::string_view header) {
  const std::size_t colon = header.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view kind = header.substr(0, colon);
  const std::string_view value = header.substr(colon + 1);
  if (kind == "project_id" && detail::valid_destination_id(value)) return Destination::project(std::string(value));
  if (kind == "experiment_id" && detail::valid_destination_id(value)) return Destination::experiment(std::string(value));
  if (kind == "project_name" && !value.empty() && value.size() <= 256 &&
      detail::find_invalid_utf8(value) == value.size())
    return Destination::project_named(std::string(value));
  return std::nullopt;
}

// A request's decoded spans and rows, reused by the next request on the same I/O thread
// (their vectors keep their capacity).
struct RequestState {
  otlp::Traces traces;
  otlp::MappedSpans mapped;

  // What a thread keeps between requests is bounded: after an unusually large export the
  // memory goes back instead of staying with the thread (the budget does not count it).
  static constexpr std::size_t kKeptSpans = 2048;
  void trim() {
    if (traces.spans.size() > kKeptSpans) traces = {};
    if (mapped.rows.capacity() > kKeptSpans) mapped = {};
  }
};

struct TrimOnExit {
  RequestState& state;
  ~TrimOnExit() { state.trim(); }
};

RequestState& request_state() {
  thread_local RequestState state;
  return state;
}

class OtlpTracesHandler {
 public:
  OtlpTracesHandler(IngestSink& sink, const IngestConfig& config)
      : sink_(sink), max_body_(config.max_body_bytes), ack_timeout_(config.ack_timeout) {}

  std::optional<HttpResponse> operator()(HttpRequest& request, const HttpResponder& responder) {
    if (request.method() != http::verb::post) {
      HttpResponse response = make_response(request, 405, R"({"error":{"message":"method not allowed"}})");
      response.set(http::field::allow, "POST");
      return response;
    }
    auto& counters = sink_.counters();
    counters.at(Listener::http).bytes.fetch_add(request.body().size(), std::memory_order_relaxed);
    const auto encoding = encoding_of(request[http::field::content_type]);
    if (!encoding) {
      counters.otlp.count_invalid_request();
      return make_response(request, 415,
                           otlp::error_status(otlp::Encoding::json, kUnimplemented,
                                              "unsupported Content-Type: send application/x-protobuf or "
                                              "application/json"),
                           otlp::content_type(otlp::Encoding::json));
    }
    counters.otlp.count_request(*encoding);
    if (auto failure = decode_request_body(request, max_body_, "ingest.max_body_bytes")) {
      counters.otlp.count_invalid_request();
      return status_answer(request, *encoding, failure->status, kInvalidArgument, failure->message);
    }

    std::optional<DestinationHandle> to;
    const std::string_view parent = request["x-bt-parent"];
    if (!parent.empty()) {
      const auto destination = parse_parent(parent);
      if (!destination) {
        counters.otlp.count_invalid_request();
        return status_answer(
            request, *encoding, 400, kInvalidArgument,
            "x-bt-parent must be project_id:<id>, project_name:<name> or experiment_id:<id>");
      }
      to = sink_.handle_for(*destination);
    } else {
      to = sink_.default_handle();
      if (!to) {
        counters.otlp.count_invalid_request();
        return status_answer(request, *encoding, 400, kInvalidArgument,
                             "no destination: send the x-bt-parent header (project_id:<id>, "
                             "project_name:<name> or experiment_id:<id>) or configure destination.* "
                             "on the daemon");
      }
    }

    RequestState& state = request_state();
    const TrimOnExit trim{state};
    otlp::Traces& traces = state.traces;
    otlp::MappedSpans& mapped = state.mapped;
    mapped.clear();
    if (auto error = otlp::decode_otlp_request(request.body(), *encoding, traces)) {
      counters.otlp.count_invalid_request();
      return status_answer(request, *encoding, 400, kInvalidArgument, error->message);
    }
    counters.otlp.count_received(traces.spans.size());
    otlp::map_spans(traces, sink_.parser(), mapped);

    if (sink_.durable()) {
      commit_durable(request, *encoding, *to, responder, state);
      return std::nullopt;
    }

    // As the insert route: rows are offered in order without holding this I/O thread (a
    // full budget is waited out for up to ingest.ack_timeout_ms, then answered 429); once
    // the pipeline refuses a row the rest is not offered, and the exporter retries the whole
    // export, whose rows overwrite the ones already queued (same ids). Spans the mapping
    // refused are final either way, so they are counted now.
    std::string message = count_refused(state);
    const std::size_t refused_by_mapping = state.mapped.refused.size();
    std::vector<IngestSink::RoutedRow> routed;
    routed.reserve(mapped.rows.size());
    for (auto& row : mapped.rows) routed.push_back(IngestSink::RoutedRow{*to, std::move(row)});
    mapped.rows.clear();
    HttpRequest head;  // what the answer needs of the request, which is gone by then
    head.version(request.version());
    head.keep_alive(request.keep_alive());
    auto answer = [&sink = sink_, encoding = *encoding, refused_by_mapping,
                   message = std::move(message)](const HttpRequest& head, const IngestSink::QueueOutcome& outcome) {
      return queued_answer(sink, head, encoding, refused_by_mapping, message, outcome);
    };
    const auto outcome = sink_.queue_rows(
        Listener::http, std::move(routed), responder.executor, ack_timeout_,
        [&sink = sink_, head, answer, respond = responder.respond](const IngestSink::QueueOutcome& settled) {
          HttpResponse response = answer(head, settled);
          sink.counters().count_http_response(response.result_int());
          respond(std::move(response));
        });
    if (!outcome) return std::nullopt;
    return answer(request, *outcome);
  }

 private:
  // Counts the spans refused alone and describes them for partial_success ("" when none).
  std::string count_refused(RequestState& state) {
    auto& refused = state.mapped.refused;
    if (refused.empty()) return {};
    std::sort(refused.begin(), refused.end(),
              [](const otlp::RefusedSpan& a, const otlp::RefusedSpan& b) { return a.index < b.index; });
    for (const auto& span : refused) sink_.counters().otlp.count_rejected(span.reason);
    return otlp::refusal_message(state.traces, refused);
  }

  // ingest.ack = "durable": every accepted row goes to the spool as one batch and the
  // answer is written once it is fsynced (as the insert route does).
  void commit_durable(const HttpRequest& request, otlp::Encoding encoding, DestinationHandle to,
                      const HttpResponder& responder, RequestState& state) {
    DurableBatch batch;
    for (auto& row : state.mapped.rows) batch.add(to, std::move(row));
    const std::size_t rows = batch.rows();
    std::string message = count_refused(state);
    const std::uint64_t rejected = state.mapped.refused.size();
    HttpRequest head;
    head.version(request.version());
    head.keep_alive(request.keep_alive());
    sink_.commit_async(
        Listener::http, std::move(batch), responder.executor,
        [&sink = sink_, head = std::move(head), encoding, rows, rejected, message = std::move(message),
         respond = responder.respond](DurableResult result) mutable {
          HttpResponse response;
          if (result == DurableResult::durable) {
            sink.counters().otlp.count_queued(rows);
            response = make_response(head, 200, otlp::export_response(encoding, rejected, message),
                                     otlp::content_type(encoding));
          } else {
            sink.counters().otlp.count_not_queued(rows);
            response =
                status_answer(head, encoding, 503, kUnavailable,
                              "the export's " + std::to_string(rows) + " spans were not made durable (" +
                                  std::string(durable_result_name(result)) + "); retry the same export");
            response.set(http::field::retry_after, "1");
          }
          sink.counters().count_http_response(response.result_int());
          respond(std::move(response));
        });
  }

  // The answer once the export's rows are settled: 200 with partial_success naming the
  // spans refused alone (a row over the API's payload limit is one too), or 429 / 503 with
  // Retry-After when the pipeline refused a row and the rest was not offered.
  static HttpResponse queued_answer(IngestSink& sink, const HttpRequest& head, otlp::Encoding encoding,
                                    std::size_t refused_by_mapping, const std::string& message,
                                    const IngestSink::QueueOutcome& outcome) {
    auto& counters = sink.counters().otlp;
    counters.count_queued(outcome.queued);
    for (std::size_t i = 0; i < outcome.too_large; ++i) counters.count_rejected(otlp::SpanRejection::too_large);
    if (outcome.stopped_by) {
      const std::size_t not_queued = outcome.total - outcome.queued - outcome.too_large;
      counters.count_not_queued(not_queued);
      const bool shutting_down = *outcome.stopped_by == LogResult::dropped_shutdown;
      HttpResponse response = status_answer(
          head, encoding, shutting_down ? 503 : 429, shutting_down ? kUnavailable : kResourceExhausted,
          std::to_string(not_queued) + " of the export's spans were not queued (" +
              (shutting_down ? "shutting down" : "memory budget full") + "); retry the same export");
      response.set(http::field::retry_after, "1");
      return response;
    }
    std::string described = message;
    if (outcome.too_large > 0) {
      if (!described.empty()) described += "; ";
      described += std::to_string(outcome.too_large) + " spans are larger than the API's payload limit";
    }
    return make_response(head, 200,
                         otlp::export_response(encoding, refused_by_mapping + outcome.too_large, described),
                         otlp::content_type(encoding));
  }

  static HttpResponse status_answer(const HttpRequest& request, otlp::Encoding encoding, unsigned status,
                                    std::int32_t code, std::string_view message) {
    return make_response(request, status, otlp::error_status(encoding, code, message),
                         otlp::content_type(encoding));
  }

  IngestSink& sink_;
  std::size_t max_body_;
  std::chrono::milliseconds ack_timeout_;  // longest wait for room before a 429
};

}  // namespace

DeferringHttpHandler make_otlp_traces_handler(IngestSink& sink, const IngestConfig& config) {
  return OtlpTracesHandler(sink, config);
}

}  // namespace spanline::agent
