#include "prometheus.hpp"

#include "ingest_auth.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <utility>

namespace spanline::agent {
namespace {

using Label = std::pair<std::string_view, std::string_view>;

void append_number(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void append_double(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
  }
}

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

template <class Value>
void sample(std::string& out, std::string_view name, std::initializer_list<Label> labels, Value value) {
  out += name;
  if (labels.size() != 0) {
    out += '{';
    bool first = true;
    for (const auto& [key, label_value] : labels) {
      if (!first) out += ',';
      first = false;
      out += key;
      out += "=\"";
      append_label_value(out, label_value);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  if constexpr (std::is_floating_point_v<Value>) {
    append_double(out, value);
  } else {
    append_number(out, static_cast<std::uint64_t>(value));
  }
  out += '\n';
}

template <class Value>
void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            Value value) {
  header(out, name, type, help);
  sample(out, name, {}, value);
}

template <class Field>
void per_listener(std::string& out, const IngestSnapshot& ingest, std::string_view name,
                  std::string_view type, std::string_view help, Field field) {
  header(out, name, type, help);
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    sample(out, name, {{"listener", to_string(static_cast<Listener>(i))}}, field(ingest.listeners[i]));
  }
}

void render_spool(const Stats::Spool& spool, std::string& out) {
  single(out, "spanline_spool_enabled", "gauge", "1 when a durable spool directory is open (spool.dir).",
         spool.enabled ? 1 : 0);
  single(out, "spanline_spool_bytes", "gauge", "Bytes of spool segment files on disk.", spool.bytes_on_disk);
  single(out, "spanline_spool_segments", "gauge", "Spool segment files on disk.", spool.segments_on_disk);
  single(out, "spanline_spool_replay_lag_bytes", "gauge",
         "Bytes of spooled records on disk not yet acknowledged by the API.", spool.replay_lag_bytes);
  single(out, "spanline_spool_oldest_unacked_age_seconds", "gauge",
         "Age of the oldest spooled record not yet acknowledged by the API; 0 when caught up.",
         spool.oldest_unacked_age_seconds);
  single(out, "spanline_spool_records_written_total", "counter", "Records (batches) written to the spool.",
         spool.records_written);
  single(out, "spanline_spool_rows_spilled_total", "counter", "Rows written to the spool, as logged.",
         spool.rows_spilled);
  single(out, "spanline_spool_records_replayed_total", "counter",
         "Spooled records handed to the sender again.", spool.records_replayed);
  single(out, "spanline_spool_rows_replayed_delivered_total", "counter",
         "Rows from spooled records that the API acknowledged.", spool.rows_replayed_delivered);
  single(out, "spanline_spool_records_already_acked_total", "counter",
         "Spooled records not replayed because an earlier run had them acknowledged (its .acks file).",
         spool.records_already_acked);
  single(out, "spanline_spool_ack_write_errors_total", "counter",
         "Acknowledgements that could not be written to a segment's .acks file; those records are "
         "replayed again after a restart.",
         spool.ack_write_errors);
  single(out, "spanline_spool_records_corrupt_total", "counter",
         "Spooled records skipped because of a bad checksum or a damaged region.", spool.records_corrupt);
  single(out, "spanline_spool_records_truncated_total", "counter",
         "Incomplete spooled records skipped at a segment's end (a crash mid-write).",
         spool.records_truncated);
  single(out, "spanline_spool_segments_unknown_version_total", "counter",
         "Spool segments of a format version this build cannot read: kept on disk, not replayed.",
         spool.segments_unknown_version);
  single(out, "spanline_spool_write_errors_total", "counter", "Spool write and fsync failures.",
         spool.write_errors);
}

void render_durable_ingest(const DurableIngestSnapshot& durable, std::string& out) {
  constexpr std::string_view rows = "spanline_ingest_durable_rows_total";
  header(out, rows, "counter",
         "Valid rows of durable-ack ingest by listener and result: durable (fsynced to the spool, "
         "acknowledged) or why not (not acknowledged; the client must resend).");
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    for (std::size_t r = 0; r < kDurableResultCount; ++r) {
      sample(out, rows,
             {{"listener", to_string(static_cast<Listener>(i))},
              {"result", durable_result_name(static_cast<DurableResult>(r))}},
             durable.listeners[i].rows[r]);
    }
  }
  header(out, "spanline_ingest_durable_commits_total", "counter",
         "Durable writes (one per request or stream read and destination group), by listener.");
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    sample(out, "spanline_ingest_durable_commits_total", {{"listener", to_string(static_cast<Listener>(i))}},
           durable.listeners[i].commits);
  }
  header(out, "spanline_ingest_durable_commit_seconds_total", "counter",
         "Time spent waiting for durable writes (spool append and fsync), by listener.");
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    sample(out, "spanline_ingest_durable_commit_seconds_total",
           {{"listener", to_string(static_cast<Listener>(i))}}, durable.listeners[i].commit_seconds);
  }
}

}  // namespace

void render_prometheus(const Stats& s, const IngestSnapshot& ingest, std::string& out) {
  render_prometheus(s, ingest, DurableIngestSnapshot{}, out);
}

void render_prometheus(const Stats& s, const IngestSnapshot& ingest, const DurableIngestSnapshot& durable,
                       std::string& out) {
  out.clear();
  out.reserve(8192);

  // ---- rows through the pipeline ----
  single(out, "spanline_rows_in_total", "counter", "Rows accepted into the queue.", s.rows_in);
  single(out, "spanline_rows_delivered_total", "counter", "Rows acknowledged by the API with a 2xx answer.",
         s.rows_delivered);
  single(out, "spanline_rows_rejected_total", "counter",
         "Rows the API refused for good (401, 403, 404; 400, 413, 422 once alone in their request); never "
         "retried.",
         s.rows_rejected);
  header(out, "spanline_rows_dropped_total", "counter",
         "Rows not delivered without the API refusing them, by reason.");
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    sample(out, "spanline_rows_dropped_total", {{"reason", to_string(static_cast<DropReason>(i))}},
           s.rows_dropped[i]);
  }
  single(out, "spanline_rows_coalesced_total", "counter",
         "Rows merged into another row with the same id before sending.", s.rows_coalesced);

  // ---- producers that waited (overflow policies block and spill) ----
  single(out, "spanline_producer_waits_for_batcher_total", "counter",
         "Log calls that waited because the batcher was behind.", s.producer_waits_for_batcher);
  single(out, "spanline_producer_waits_for_budget_total", "counter",
         "Log calls that waited for room in the memory budget (queue.max_bytes, queue.max_rows).",
         s.producer_waits_for_budget);
  single(out, "spanline_producer_wait_seconds_total", "counter",
         "Time log calls spent waiting for the batcher or for room in the memory budget.",
         s.producer_wait_seconds);

  // ---- what went on the wire ----
  single(out, "spanline_events_sent_total", "counter", "Events acknowledged by the API, after coalescing.",
         s.events_sent);
  single(out, "spanline_batches_sent_total", "counter", "Insert requests acknowledged by the API.",
         s.batches_sent);
  single(out, "spanline_bytes_raw_total", "counter", "Uncompressed bytes of acknowledged request bodies.",
         s.bytes_raw);
  single(out, "spanline_bytes_compressed_total", "counter", "Bytes of acknowledged request bodies as sent.",
         s.bytes_compressed);
  header(out, "spanline_requests_total", "counter",
         "Requests to the API by HTTP status; status 0 is a transport error or timeout.");
  for (const auto& [status, count] : s.requests_by_status) {
    char code[8];
    const auto end = std::to_chars(code, code + sizeof(code), status).ptr;
    sample(out, "spanline_requests_total",
           {{"status", std::string_view(code, static_cast<std::size_t>(end - code))}}, count);
  }
  single(out, "spanline_retries_total", "counter", "Requests retried after a retryable failure.", s.retries);
  single(out, "spanline_isolation_requests_total", "counter",
         "Requests sent to isolate rows the API refused (400, 422) from the rest of their batch.",
         s.isolation_requests);

  // ---- gauges ----
  single(out, "spanline_queue_rows", "gauge", "Rows in the queue, not yet batched.", s.queue_rows);
  single(out, "spanline_pending_rows", "gauge", "Rows accepted and not yet delivered, rejected or dropped.",
         s.pending_rows);
  single(out, "spanline_memory_bytes", "gauge", "Bytes counted against the memory budget.", s.memory_bytes);
  single(out, "spanline_memory_body_bytes", "gauge",
         "Of spanline_memory_bytes: encoded request bodies not yet delivered, spooled or dropped.",
         s.memory_body_bytes);
  single(out, "spanline_in_flight_requests", "gauge", "Requests on the wire.", s.in_flight);
  single(out, "spanline_concurrency_limit", "gauge", "Current adaptive limit of requests in flight.",
         s.concurrency_limit);

  // ---- request latency ----
  constexpr std::string_view latency = "spanline_request_duration_seconds";
  header(out, latency, "histogram", "Latency of insert requests to the API, in seconds.");
  const std::size_t buckets = std::min(s.latency_bounds.size(), s.latency_buckets.size());
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    char bound[32];
    const auto end = std::to_chars(bound, bound + sizeof(bound), s.latency_bounds[i]).ptr;
    // Buckets are cumulative; clamp so a racy snapshot can never look non-monotonic.
    previous = std::max(previous, s.latency_buckets[i]);
    out += latency;
    out += "_bucket{le=\"";
    out.append(bound, end);
    out += "\"} ";
    append_number(out, previous);
    out += '\n';
  }
  out += latency;
  out += "_bucket{le=\"+Inf\"} ";
  append_number(out, std::max(previous, s.latency_count));
  out += '\n';
  sample(out, std::string(latency) + "_sum", {}, s.latency_sum);
  sample(out, std::string(latency) + "_count", {}, std::max(previous, s.latency_count));

  // ---- durable spool ----
  render_spool(s.spool, out);

  // ---- the daemon's ingest ----
  per_listener(out, ingest, "spanline_ingest_events_total", "counter", "Valid events queued, by listener.",
               [](const auto& l) { return l.events; });
  per_listener(out, ingest, "spanline_ingest_not_queued_total", "counter",
               "Valid events the pipeline refused (queue full, too large, shutting down), by listener.",
               [](const auto& l) { return l.not_queued; });
  per_listener(out, ingest, "spanline_ingest_bytes_total", "counter", "Bytes received, by listener.",
               [](const auto& l) { return l.bytes; });
  per_listener(out, ingest, "spanline_ingest_waits_for_room_total", "counter",
               "Times a connection stopped being read, or an HTTP request waited, because the memory budget "
               "was full (block, spill), by listener.",
               [](const auto& l) { return l.waits_for_room; });
  header(out, "spanline_ingest_invalid_total", "counter",
         "Input refused as invalid, by listener and reason.");
  for (std::size_t i = 0; i < kListenerCount; ++i) {
    for (std::size_t r = 0; r < detail::kIngestErrorCount; ++r) {
      sample(out, "spanline_ingest_invalid_total",
             {{"listener", to_string(static_cast<Listener>(i))},
              {"reason", detail::to_string(static_cast<detail::IngestError>(r))}},
             ingest.listeners[i].invalid[r]);
    }
  }
  per_listener(out, ingest, "spanline_connections", "gauge", "Open client connections, by listener.",
               [](const auto& l) { return l.connections_active; });
  per_listener(out, ingest, "spanline_connections_total", "counter",
               "Client connections accepted, by listener.",
               [](const auto& l) { return l.connections_total; });
  per_listener(out, ingest, "spanline_connections_refused_total", "counter",
               "Client connections refused over ingest.max_connections, by listener.",
               [](const auto& l) { return l.connections_refused; });
  per_listener(out, ingest, "spanline_connections_idle_closed_total", "counter",
               "Client connections the daemon closed after ingest.idle_timeout_ms without input (or without "
               "completing a line), by listener.",
               [](const auto& l) { return l.connections_idle_closed; });
  header(out, "spanline_http_ingest_responses_total", "counter", "HTTP ingest answers, by status code.");
  for (const auto& [status, count] : ingest.http_responses) {
    char code[8];
    const auto end = std::to_chars(code, code + sizeof(code), status).ptr;
    sample(out, "spanline_http_ingest_responses_total",
           {{"code", std::string_view(code, static_cast<std::size_t>(end - code))}}, count);
  }
  header(out, "spanline_http_ingest_auth_refused_total", "counter",
         "HTTP ingest requests refused by authentication (401, 403, 415), by reason.");
  for (std::size_t r = 0; r < kAuthRefusalCount; ++r) {
    sample(out, "spanline_http_ingest_auth_refused_total", {{"reason", to_string(static_cast<AuthRefusal>(r))}},
           ingest.auth_refused[r]);
  }
  header(out, "spanline_proxy_requests_total", "counter",
         "Requests the HTTP ingest forwarded to the upstream API, by route class and outcome.");
  for (std::size_t r = 0; r < kProxyRouteNames.size(); ++r) {
    for (std::size_t o = 0; o < kProxyOutcomeNames.size(); ++o) {
      sample(out, "spanline_proxy_requests_total", {{"route", kProxyRouteNames[r]}, {"outcome", kProxyOutcomeNames[o]}},
             ingest.proxy[r][o]);
    }
  }
  single(out, "spanline_ready", "gauge", "1 once every listener is bound, 0 while starting or stopping.",
         ingest.ready ? 1 : 0);
  render_otlp_metrics(ingest.otlp, out);
  if (durable.enabled) render_durable_ingest(durable, out);
}

std::string render_prometheus(const Stats& stats, const IngestSnapshot& ingest) {
  std::string out;
  render_prometheus(stats, ingest, out);
  return out;
}

}  // namespace spanline::agent
