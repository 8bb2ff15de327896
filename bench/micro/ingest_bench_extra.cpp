// The sidecar's per-line cost on its I/O thread, with the real pipeline behind it: 64 KiB
// reads of NDJSON shaped like the load harness's traces (a start row with a routing key,
// then merge rows) are framed, parsed, routed and queued through agent::IngestSink into a
// Logger that sends to an in-process fake API. The batcher, encoder and sender run on
// their own threads and free the rows, so the allocator sees what it sees in spanlined
// (rows allocated on one thread, freed on others: malloc and its arena lock are a large
// part of the figure). CPU time is the benchmark thread's: what one I/O thread spends per
// line, without the socket read.
//
// BM_SidecarLines/0 is the daemon's path (IngestSink::submit_line, each line parsed where
// it lies in the read buffer); /1 does what spanlined did per line before its route cache
// and in-place parsing (the line copied into the parser, a Destination built and looked
// up for every line). The pipeline threads share the machine's cores with the benchmark,
// so compare the two with --benchmark_repetitions and look at the spread.

#if defined(SPANLINE_MICRO_HAVE_AGENT)

#include "ingest/ndjson_parser.hpp"
#include "ingest_counters.hpp"
#include "ingest_sink.hpp"

#include <spanline/logger.hpp>

#include <fake_api.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr const char* kProject = "5a1b2c3d-0000-4000-8000-00000000beef";
constexpr std::size_t kChunkBytes = 64 * 1024;

// A row id that differs per trace and per chunk, so that rows of one chunk merge only
// with their own trace's rows, as in the load harness.
std::string uuid(std::uint64_t n) {
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(n >> 32),
                static_cast<unsigned>((n >> 16) & 0xffff), static_cast<unsigned>(n & 0xfff),
                static_cast<unsigned>((n >> 12) & 0xfff), static_cast<unsigned long long>(n * 2654435761u));
  return out;
}

// One trace: a start row naming its project, two merge rows and an end row (~400 bytes each).
void append_trace(std::string& out, std::uint64_t trace) {
  const std::string id = uuid(trace);
  const std::string span = uuid(trace ^ 0x5bd1e995);
  const std::string head = R"({"id":")" + id + R"(","span_id":")" + span + R"(","root_span_id":")" + span +
                           R"(","project_id":")" + kProject + R"(",)";
  out += head;
  out +=
      R"("created":"2026-11-28T15:20:18.123456Z","span_attributes":{"name":"chat.completion","type":"llm"},)"
      R"("_is_merge":false,"input":[{"role":"user","content":"Summarize the customer's last three support )"
      R"(tickets and suggest the next best action."}],"metadata":{"model":"gpt-4o-mini","temperature":0.2},)"
      R"("metrics":{"start":1732806018.123456}})"
      "\n";
  out += head;
  out +=
      R"("_is_merge":true,"output":{"role":"assistant","content":"Refund the duplicate charge and offer a )"
      R"(one-month credit."},"scores":{"helpfulness":0.82}})"
      "\n";
  out += head;
  out +=
      R"("_is_merge":true,"metrics":{"prompt_tokens":212,"completion_tokens":38},"tags":["prod","support"]})"
      "\n";
  out += head;
  out += R"("_is_merge":true,"metrics":{"end":1732806019.004211}})"
         "\n";
}

// Read-sized chunks of whole lines, with the padding spanlined keeps after its read buffer.
std::vector<std::string> make_chunks(std::size_t count) {
  std::vector<std::string> chunks(count);
  std::uint64_t trace = 1;
  for (auto& chunk : chunks) {
    while (chunk.size() < kChunkBytes - 2048) append_trace(chunk, trace++);
    chunk.reserve(chunk.size() + spanline::detail::EventParser::kPadding);
  }
  return chunks;
}

struct SidecarPipeline {
  spanline::fakeapi::FakeApi fake;
  spanline::Logger logger;
  spanline::agent::IngestCounters counters;
  spanline::agent::IngestSink sink;

  SidecarPipeline()
      : fake(spanline::fakeapi::ServerConfig{.api_key = "bench-key",
                                             .store = spanline::fakeapi::StoreMode::ids}),
        logger(spanline::Options{.api_key = "bench-key", .api_url = fake.base_url()}),
        sink(logger, spanline::Destination::project(kProject), counters, spanline::detail::IngestLimits{}) {}

  static SidecarPipeline& get() {
    static SidecarPipeline pipeline;
    return pipeline;
  }
};

void BM_SidecarLines(benchmark::State& state) {
  using spanline::agent::Listener;
  SidecarPipeline& p = SidecarPipeline::get();
  static const std::vector<std::string> chunks = make_chunks(64);
  const bool old_path = state.range(0) == 1;
  spanline::detail::IngestEvent event;  // the old path's per-line state
  std::int64_t lines = 0;
  std::size_t next = 0;
  const auto events_before = p.counters.at(Listener::uds).events.load();
  for (auto _ : state) {
    const std::string& chunk = chunks[next++ % chunks.size()];
    const std::size_t readable = chunk.capacity();  // the padding after the chunk is readable
    spanline::detail::LineFramer framer(1 << 20);
    framer.feed(
        chunk,
        [&](std::string_view line, std::uint64_t offset) {
          ++lines;
          if (!old_path) {
            p.sink.submit_line(Listener::uds, line, offset, "bench",
                               readable - static_cast<std::size_t>(line.data() - chunk.data()));
            return;
          }
          spanline::detail::IngestEvent fresh;
          if (p.sink.parser().parse(line, spanline::detail::Routing::strip, fresh)) return;
          (void)p.sink.queue(Listener::uds, p.sink.handle_for(*fresh.destination), std::move(fresh.row));
        },
        [](std::uint64_t) {});
  }
  state.SetItemsProcessed(lines);
  state.counters["queued"] = static_cast<double>(p.counters.at(Listener::uds).events.load() - events_before) /
                             static_cast<double>(lines);
}
// A fixed amount per run (about 64 MiB of rows, within the default budget: blocked time
// would not show in CPU time, but neither would the drain catching up).
BENCHMARK(BM_SidecarLines)->Arg(0)->Arg(1)->Iterations(1000);

}  // namespace

#endif  // SPANLINE_MICRO_HAVE_AGENT
