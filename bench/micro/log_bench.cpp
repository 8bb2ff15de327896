// Caller-side cost of logging: one ~500-byte event row through spanline::Logger (1 and
// 2 producer threads), its per-call latency distribution, and building the row's
// Fields. The logger sends to an in-process fake API (ids-only store) so the pipeline
// really drains while the caller is measured.

#include <spanline/logger.hpp>

#include <fake_api.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

// ~200 + ~150 characters of text plus scores, metadata, tags and metrics: with the
// logger's own keys (id, created, ...) the row is about 500 bytes of JSON.
const std::string& prompt_text() {
  static const std::string text =
      "Summarize the customer's last three support tickets and suggest the next best action. Tickets "
      "mention a failed payment, a duplicate charge and a request to close the account; be concise.";
  return text;
}
const std::string& completion_text() {
  static const std::string text =
      "The customer was charged twice after a failed payment. Refund the duplicate charge and offer to "
      "keep the account open with a one-month credit.";
  return text;
}

void build_row(spanline::Fields& f) {
  f.clear();
  f.string("input", prompt_text())
      .json_unchecked("output", R"({"role":"assistant","content":"ok"})")
      .string("expected", completion_text())
      .scores({{"relevance", 0.82}, {"faithfulness", 0.97}})
      .metadata({{"model", "gpt-4o-mini"}, {"user_id", "user-4711"}})
      .tags({"prod", "support"})
      .metrics({{"prompt_tokens", 61}, {"completion_tokens", 38}, {"tokens", 99}});
}

// One fake API and one logger for the whole binary: starting them per benchmark
// would dominate short runs.
struct Pipeline {
  spanline::fakeapi::FakeApi fake;
  spanline::Logger logger;
  spanline::DestinationHandle to;

  Pipeline()
      : fake(spanline::fakeapi::ServerConfig{.api_key = "bench-key",
                                             .store = spanline::fakeapi::StoreMode::ids}),
        logger(spanline::Options{.api_key = "bench-key",
                                 .api_url = fake.base_url(),
                                 .max_queue_bytes = std::size_t{1} << 30,
                                 .max_queue_rows = 4'000'000,
                                 .overflow = spanline::OverflowPolicy::drop_newest}),
        to(logger.destination(spanline::Destination::project("5a1b2c3d-0000-4000-8000-00000000beef"))) {}

  static Pipeline& get() {
    static Pipeline pipeline;
    return pipeline;
  }
};

// Logging throughput on the caller's thread. A fixed iteration count keeps the queued
// bytes inside the budget, so every call is a real enqueue, not a drop (checked: the
// "dropped" counter must stay 0).
void BM_LogSpanRow(benchmark::State& state) {
  Pipeline& p = Pipeline::get();
  spanline::Fields row;
  build_row(row);
  const std::uint64_t dropped_before = p.logger.stats().rows_dropped_total();
  std::uint64_t refused = 0;
  for (auto _ : state) {
    if (p.logger.log(p.to, row) != spanline::LogResult::queued) ++refused;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["refused"] = benchmark::Counter(static_cast<double>(refused));
  if (state.thread_index() == 0) {
    const auto flushed = p.logger.flush(std::chrono::seconds(60));
    state.counters["dropped"] = static_cast<double>(p.logger.stats().rows_dropped_total() - dropped_before);
    state.counters["flush_complete"] = flushed.complete ? 1 : 0;
  }
}
BENCHMARK(BM_LogSpanRow)->Iterations(200'000)->Threads(1)->Threads(2)->UseRealTime();

// Per-call latency: each call timed on its own into a sample vector, the queue drained
// every 2,000 calls (untimed) so the numbers are for a pipeline keeping up.
void BM_LogCallLatency(benchmark::State& state) {
  Pipeline& p = Pipeline::get();
  spanline::Fields row;
  build_row(row);
  constexpr std::size_t kCalls = 100'000, kChunk = 2'000;
  std::vector<std::uint32_t> samples;
  samples.reserve(kCalls);
  using Clock = std::chrono::steady_clock;
  // What two clock reads cost, subtracted from nothing but reported alongside.
  const auto c0 = Clock::now();
  for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize(Clock::now());
  const double timer_ns = std::chrono::duration<double, std::nano>(Clock::now() - c0).count() / 1000.0;

  for (auto _ : state) {
    samples.clear();
    for (std::size_t i = 0; i < kCalls; ++i) {
      const auto t0 = Clock::now();
      const auto result = p.logger.log(p.to, row);
      const auto t1 = Clock::now();
      benchmark::DoNotOptimize(result);
      samples.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(), UINT32_MAX)));
      if ((i + 1) % kChunk == 0) {
        state.PauseTiming();
        (void)p.logger.flush(std::chrono::seconds(30));
        state.ResumeTiming();
      }
    }
  }
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return static_cast<double>(samples[std::min(
        samples.size() - 1, static_cast<std::size_t>(q * static_cast<double>(samples.size())))]);
  };
  const auto avg = benchmark::Counter::kAvgThreads;
  state.counters["p50_ns"] = benchmark::Counter(at(0.50), avg);
  state.counters["p90_ns"] = benchmark::Counter(at(0.90), avg);
  state.counters["p99_ns"] = benchmark::Counter(at(0.99), avg);
  state.counters["p999_ns"] = benchmark::Counter(at(0.999), avg);
  state.counters["max_ns"] = benchmark::Counter(static_cast<double>(samples.back()), avg);
  state.counters["timer_ns"] = benchmark::Counter(timer_ns, avg);
}
BENCHMARK(BM_LogCallLatency)->Iterations(1)->Threads(1)->Threads(2)->UseRealTime();

// Serializing a row: building its Fields (the caller-side work before the enqueue).
void BM_BuildFields(benchmark::State& state) {
  spanline::Fields row;
  std::size_t bytes = 0;
  for (auto _ : state) {
    build_row(row);
    bytes = row.body().size() + row.metrics_body().size();
    benchmark::DoNotOptimize(row.body().data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["row_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_BuildFields);

// The same with json() validating the output member instead of json_unchecked().
void BM_BuildFieldsValidated(benchmark::State& state) {
  spanline::Fields row;
  for (auto _ : state) {
    row.clear();
    row.string("input", prompt_text())
        .json(
            "output",
            R"({"role": "assistant", "content": "ok", "tool_calls": [{"name": "refund", "args": {"amount": 19.99}}]})")
        .string("expected", completion_text())
        .scores({{"relevance", 0.82}})
        .metrics({{"tokens", 99}});
    benchmark::DoNotOptimize(row.body().data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildFieldsValidated);

}  // namespace
