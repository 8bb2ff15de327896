#include "otlp_counters.hpp"

#include <charconv>

namespace spanline::agent {

namespace {

void family(std::string& out, std::string_view name, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " counter\n";
}

void value(std::string& out, std::string_view name, std::string_view labels, std::uint64_t count) {
  out += name;
  out += labels;
  out += ' ';
  char buffer[24];
  out.append(buffer, std::to_chars(buffer, buffer + sizeof(buffer), count).ptr);
  out += '\n';
}

}  // namespace

void render_otlp_metrics(const OtlpSnapshot& otlp, std::string& out) {
  family(out, "spanline_otlp_requests_total", "OTLP trace export requests received, by encoding.");
  value(out, "spanline_otlp_requests_total", "{encoding=\"protobuf\"}", otlp.requests[0]);
  value(out, "spanline_otlp_requests_total", "{encoding=\"json\"}", otlp.requests[1]);
  family(out, "spanline_otlp_requests_invalid_total",
         "OTLP requests refused whole: undecodable body, unsupported content type, bad x-bt-parent or no "
         "destination.");
  value(out, "spanline_otlp_requests_invalid_total", "", otlp.requests_invalid);
  family(out, "spanline_otlp_spans_received_total", "Spans in decoded OTLP requests.");
  value(out, "spanline_otlp_spans_received_total", "", otlp.spans_received);
  family(out, "spanline_otlp_spans_queued_total", "OTLP spans queued as Braintrust rows.");
  value(out, "spanline_otlp_spans_queued_total", "", otlp.spans_queued);
  family(out, "spanline_otlp_spans_not_queued_total",
         "Valid OTLP spans the pipeline refused (memory budget full, shutting down); the exporter was told "
         "to retry.");
  value(out, "spanline_otlp_spans_not_queued_total", "", otlp.spans_not_queued);
  family(out, "spanline_otlp_spans_rejected_total",
         "OTLP spans refused alone (named in partial_success), by reason.");
  for (std::size_t i = 0; i < otlp.spans_rejected.size(); ++i) {
    std::string labels = "{reason=\"";
    labels += otlp::to_string(static_cast<otlp::SpanRejection>(i));
    labels += "\"}";
    value(out, "spanline_otlp_spans_rejected_total", labels, otlp.spans_rejected[i]);
  }
}

}  // namespace spanline::agent
