// The sidecar's ingest stage on one core: validating ~500-byte NDJSON events with
// simdjson On-Demand and turning them into PreparedRows (target >= 1,000,000 lines/s),
// for the common case (id present, bytes forwarded as is) and the rewrite cases (routing
// key stripped, id added); line framing of a socket read; an insert body; and the
// Prometheus rendering of /metrics (when the agent library is linked in).

#include "ingest/ndjson_parser.hpp"

#if defined(SPANLINE_MICRO_HAVE_AGENT)
#include "prometheus.hpp"
#endif

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

using spanline::detail::EventParser;
using spanline::detail::IngestEvent;
using spanline::detail::Routing;

// A realistic LLM span row of about 500 bytes; `extra` goes first (routing keys).
std::string event_line(int i, bool with_id, const std::string& extra = {}) {
  std::string line = "{" + extra;
  if (with_id) line += R"("id":"4f6c2a8e-1b7d-4e39-9a51-)" + std::to_string(100000000000 + i) + R"(",)";
  line +=
      R"("span_id":"b5d1f0e2c3a4","root_span_id":"b5d1f0e2c3a4","span_attributes":{"name":"chat.completion","type":"llm"},)"
      R"("input":[{"role":"user","content":"Summarize the last three tickets and suggest the next action."}],)"
      R"("output":{"role":"assistant","content":"Refund the duplicate charge and confirm by email."},)"
      R"("metadata":{"model":"gpt-4o-mini","temperature":0.2,"tier":"gold"},"scores":{"helpfulness":0.82},)"
      R"("metrics":{"start":1732806018.123456,"end":1732806019.004211,"prompt_tokens":212,"completion_tokens":38},"tags":["prod","support"]})";
  return line;
}

std::vector<std::string> lines(bool with_id, const std::string& extra = {}) {
  std::vector<std::string> out;
  for (int i = 0; i < 256; ++i) out.push_back(event_line(i, with_id, extra));
  return out;
}

void run_parse(benchmark::State& state, const std::vector<std::string>& input, Routing routing) {
  EventParser parser;
  IngestEvent event;
  std::size_t bytes = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& line = input[i++ & 255];
    auto failure = parser.parse(line, routing, event);
    benchmark::DoNotOptimize(failure);
    benchmark::DoNotOptimize(event.row.json.data());
    bytes += line.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["bytes_per_line"] = static_cast<double>(input[0].size());
}

// Items/s is lines/s.
void BM_IngestParse_Forwarded(benchmark::State& state) {
  static const auto input = lines(true);
  run_parse(state, input, Routing::strip);
}
BENCHMARK(BM_IngestParse_Forwarded);

void BM_IngestParse_RoutingKeyStripped(benchmark::State& state) {
  static const auto input = lines(true, R"("project_id":"7a3e0c1d-5b2f-4c8a-9e6d-0f1a2b3c4d5e",)");
  run_parse(state, input, Routing::strip);
}
BENCHMARK(BM_IngestParse_RoutingKeyStripped);

void BM_IngestParse_IdAdded(benchmark::State& state) {
  static const auto input = lines(false);
  run_parse(state, input, Routing::strip);
}
BENCHMARK(BM_IngestParse_IdAdded);

// A 64 KiB socket read of NDJSON framed into lines and parsed: what a connection does.
void BM_IngestFrameAndParse(benchmark::State& state) {
  std::string chunk;
  for (int i = 0; chunk.size() < 64 * 1024; ++i) chunk += event_line(i, true) + "\n";
  EventParser parser;
  IngestEvent event;
  std::int64_t count = 0;
  for (auto _ : state) {
    spanline::detail::LineFramer framer(1 << 20);
    framer.feed(
        chunk,
        [&](std::string_view line, std::uint64_t) {
          benchmark::DoNotOptimize(parser.parse(line, Routing::strip, event));
          ++count;
        },
        [](std::uint64_t) {});
  }
  state.SetItemsProcessed(count);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(chunk.size()));
}
BENCHMARK(BM_IngestFrameAndParse);

// An HTTP insert body of 100 events.
void BM_IngestInsertBody(benchmark::State& state) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < 100; ++i) {
    if (i != 0) body += ',';
    body += event_line(i, true);
  }
  body += "]}";
  EventParser parser;
  std::vector<IngestEvent> events;
  for (auto _ : state) {
    benchmark::DoNotOptimize(spanline::detail::parse_insert_body(body, parser, events));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 100);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_IngestInsertBody);

#if defined(SPANLINE_MICRO_HAVE_AGENT)
void BM_PrometheusRender(benchmark::State& state) {
  spanline::Stats stats;
  stats.rows_in = 123456789;
  stats.rows_delivered = 123450000;
  stats.requests_by_status = {{200, 50000}, {429, 12}, {503, 3}, {0, 1}};
  stats.latency_bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  stats.latency_buckets = {1,     2,     30,    400,   5000,  20000, 40000,
                           48000, 49500, 49900, 49990, 49999, 50000, 50000};
  stats.latency_count = 50016;
  stats.latency_sum = 2400.5;
  spanline::agent::IngestSnapshot ingest;
  ingest.http_responses = {{200, 1000}, {400, 3}};
  std::string out;
  for (auto _ : state) {
    spanline::agent::render_prometheus(stats, ingest, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_PrometheusRender);
#endif

}  // namespace
