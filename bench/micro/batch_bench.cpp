// Batcher-side costs: coalescing, body assembly, compression, and the batcher thread
// end to end (queue -> batches -> a sink that only counts).

#include "batch/batch.hpp"
#include "batch/batcher.hpp"
#include "batch/coalescer.hpp"
#include "batch/encoder.hpp"
#include "codec/codec.hpp"
#include "accounting/accounting.hpp"
#include "errors/error_reporter.hpp"
#include "metrics/counters.hpp"
#include "accounting/memory_budget.hpp"
#include "queue/row_queue.hpp"

#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::detail {
namespace {

// ---- deterministic LLM-like rows ---------------------------------------------------

// xorshift64*: fixed seed, same rows on every run and machine.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed | 1) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1DULL;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  double unit() { return static_cast<double>(next() >> 11) / static_cast<double>(1ULL << 53); }

 private:
  std::uint64_t state_;
};

constexpr std::array<std::string_view, 48> kWords{
    "the",       "model",   "answer",   "question", "customer", "order",     "refund", "policy",
    "summarize", "context", "document", "retrieve", "tokens",   "latency",   "please", "explain",
    "why",       "how",     "should",   "would",    "account",  "billing",   "error",  "request",
    "response",  "search",  "result",   "score",    "quality",  "relevant",  "source", "citation",
    "step",      "first",   "then",     "finally",  "user",     "assistant", "system", "tool",
    "call",      "weather", "Paris",    "today",    "invoice",  "shipping",  "delay",  "thanks"};
constexpr std::array<std::string_view, 4> kModels{"gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b",
                                                  "mistral-large"};

void append_text(std::string& out, Rng& rng, std::size_t words) {
  for (std::size_t i = 0; i < words; ++i) {
    if (i > 0) out.push_back(' ');
    out.append(kWords[rng.below(kWords.size())]);
  }
}

void append_hex(std::string& out, Rng& rng, std::size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < digits; ++i) out.push_back(kHex[rng.below(16)]);
}

std::string make_id(Rng& rng) {
  std::string id;
  id.reserve(36);
  append_hex(id, rng, 8);
  id.push_back('-');
  append_hex(id, rng, 4);
  id.append("-4");
  append_hex(id, rng, 3);
  id.push_back('-');
  append_hex(id, rng, 4);
  id.push_back('-');
  append_hex(id, rng, 12);
  return id;
}

// A span-start row of roughly 500 bytes, shaped like what the SDKs log for an LLM call.
Row make_llm_row(Rng& rng, std::uint32_t destination, const std::string& id) {
  Row row;
  row.destination = destination;
  std::string& j = row.json;
  j.reserve(640);
  j.append(R"({"id":")");
  row.id_offset = static_cast<std::uint32_t>(j.size());
  j.append(id);
  row.id_size = static_cast<std::uint32_t>(id.size());
  j.append(R"(","span_id":")").append(id).append(R"(","root_span_id":")").append(id);
  j.append(R"(","created":"2024-05-01T12:00:00.000Z","input":[{"role":"system","content":")");
  append_text(j, rng, 8 + rng.below(6));
  j.append(R"("},{"role":"user","content":")");
  append_text(j, rng, 14 + rng.below(10));
  j.append(R"("}],"output":")");
  append_text(j, rng, 16 + rng.below(12));
  j.append(R"(","metadata":{"model":")").append(kModels[rng.below(kModels.size())]);
  char numbers[256];
  std::snprintf(numbers, sizeof numbers,
                R"(","temperature":%.1f,"user_id":"u-%zu"},"scores":{"accuracy":%.3f,"relevance":%.3f},)"
                R"("metrics":{"start":%.3f,"prompt_tokens":%zu,"completion_tokens":%zu},)",
                rng.unit(), rng.below(100000), rng.unit(), rng.unit(), 1714564800.0 + rng.unit() * 1e5,
                50 + rng.below(2000), 20 + rng.below(800));
  j.append(numbers);
  j.append(R"("span_attributes":{"name":"chat","type":"llm"},"tags":["prod"],"_is_merge":false})");
  return row;
}

// The span-end row for `id`: a small merge row.
Row make_end_row(Rng& rng, std::uint32_t destination, const std::string& id) {
  Row row;
  row.destination = destination;
  row.is_merge = true;
  row.json.reserve(128);
  row.json.append(R"({"id":")");
  row.id_offset = static_cast<std::uint32_t>(row.json.size());
  row.json.append(id);
  row.id_size = static_cast<std::uint32_t>(id.size());
  char tail[96];
  std::snprintf(tail, sizeof tail, R"(","metrics":{"end":%.3f},"tags":["done"],"_is_merge":true})",
                1714564800.0 + rng.unit() * 1e5);
  row.json.append(tail);
  return row;
}

std::vector<Row> unique_rows(std::size_t count, std::uint64_t seed = 42) {
  Rng rng(seed);
  std::vector<Row> rows;
  rows.reserve(count);
  for (std::size_t i = 0; i < count; ++i) rows.push_back(make_llm_row(rng, 0, make_id(rng)));
  return rows;
}

// start rows for count/2 spans, each followed a few spans later by its end row.
// Rows of spans 16 at a time: each a start row, then `updates` merge rows and its end
// row, interleaved across the open spans.
std::vector<Row> span_rows(std::size_t count, std::uint64_t seed = 7, std::size_t updates = 0) {
  Rng rng(seed);
  std::vector<std::size_t> left;  // merge rows each open span still gets after this one
  std::vector<Row> rows;
  rows.reserve(count);
  std::vector<std::string> open;
  constexpr std::size_t kInFlight = 16;
  while (rows.size() < count) {
    if (open.size() < kInFlight && rows.size() + open.size() < count) {
      open.push_back(make_id(rng));
      left.push_back(updates);
      rows.push_back(make_llm_row(rng, 0, open.back()));
    } else {
      const std::size_t k = rng.below(open.size());
      rows.push_back(make_end_row(rng, 0, open[k]));
      if (left[k]-- != 0) continue;
      open[k] = open.back();
      open.pop_back();
      left[k] = left.back();
      left.pop_back();
    }
  }
  return rows;
}

// Spans shaped like spanline-load's (bench/load/generator.cpp): a start row with a
// prompt, metadata and start metrics; an update with the completion; an update with
// scores and token metrics; the end row with the total. 16 spans open at a time, their
// rows interleaved.
std::vector<Row> load_span_rows(std::size_t count, std::uint64_t seed = 11) {
  Rng rng(seed);
  struct Open {
    std::string id;
    int next = 1;  // the row it gets next: 1 and 2 are updates, 3 the end
  };
  std::vector<Open> open;
  std::vector<Row> rows;
  rows.reserve(count);
  const auto merge_row = [&](const std::string& id, const std::string& members) {
    Row row;
    row.is_merge = true;
    row.json = R"({"id":")";
    row.id_offset = static_cast<std::uint32_t>(row.json.size());
    row.json += id;
    row.id_size = static_cast<std::uint32_t>(id.size());
    row.json += R"(",)" + members + R"(,"_is_merge":true})";
    return row;
  };
  constexpr std::size_t kInFlight = 16;
  while (rows.size() < count) {
    if (open.size() < kInFlight && rows.size() + 4 * open.size() < count) {
      open.push_back(Open{make_id(rng)});
      const std::string& id = open.back().id;
      Row row;
      std::string& j = row.json;
      j = R"({"id":")";
      row.id_offset = static_cast<std::uint32_t>(j.size());
      j += id;
      row.id_size = static_cast<std::uint32_t>(id.size());
      const std::string span = make_id(rng);
      j += R"(","span_id":")" + span + R"(","root_span_id":")" + span +
           R"(","created":"2026-12-04T15:24:20.942821Z",)";
      j +=
          R"("span_attributes":{"name":"chat_completion","type":"llm"},"input":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":")";
      append_text(j, rng, 80 + rng.below(120));
      j += R"("}],"metadata":{"model":")";
      j += kModels[rng.below(kModels.size())];
      char numbers[96];
      std::snprintf(numbers, sizeof numbers,
                    R"(","temperature":"0.7"},"metrics":{"start":%.6f},"_is_merge":false})",
                    1796397860.0 + rng.unit());
      j += numbers;
      rows.push_back(std::move(row));
      continue;
    }
    const std::size_t k = rng.below(open.size());
    Open& span = open[k];
    std::string members;
    char numbers[160];
    if (span.next == 1) {
      members = R"("output":{"role":"assistant","content":")";
      append_text(members, rng, 30 + rng.below(80));
      members += R"("})";
    } else if (span.next == 2) {
      std::snprintf(
          numbers, sizeof numbers,
          R"("scores":{"relevance":%.2f,"faithfulness":%.2f},"metrics":{"prompt_tokens":%zu,"completion_tokens":%zu})",
          rng.unit(), rng.unit(), 50 + rng.below(300), 20 + rng.below(200));
      members = numbers;
    } else {
      std::snprintf(numbers, sizeof numbers, R"("metrics":{"end":%.6f,"tokens":%zu})",
                    1796397861.0 + rng.unit(), 100 + rng.below(500));
      members = numbers;
    }
    rows.push_back(merge_row(span.id, members));
    if (++span.next > 3) {
      open[k] = std::move(open.back());
      open.pop_back();
    }
  }
  return rows;
}

Batch batch_of_bytes(std::size_t body_bytes) {
  Batch batch;
  Rng rng(99);
  while (batch.body_size() < body_bytes) {
    Row row = make_llm_row(rng, 0, make_id(rng));
    BatchEvent event;
    event.budget_bytes = row.budget_bytes();
    event.json = std::move(row.json);
    batch.events.push_back(std::move(event));
  }
  return batch;
}

// ---- coalescing -----------------------------------------------------------------------

void run_coalescer(benchmark::State& state, const std::vector<Row>& source) {
  PipelineCounters counters;
  Coalescer coalescer(0);
  std::size_t bytes = 0;
  for (const auto& row : source) bytes += row.json.size();
  const auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Row> rows = source;
    state.ResumeTiming();
    for (auto& row : rows) coalescer.add(std::move(row), now, counters);
    Batch batch = coalescer.take();
    benchmark::DoNotOptimize(batch.events.data());
    state.PauseTiming();
    batch = Batch{};  // freeing the events is not the coalescer's cost
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * source.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}

void BM_CoalesceUniqueIds(benchmark::State& state) {
  run_coalescer(state, unique_rows(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(BM_CoalesceUniqueIds)->Arg(2000)->Arg(10000);

// Half the rows are span-end merge rows that meet their start row in the batch.
void BM_CoalesceSpanStartEnd(benchmark::State& state) {
  run_coalescer(state, span_rows(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(BM_CoalesceSpanStartEnd)->Arg(2000)->Arg(10000);

// Spans as the load generator makes them: a start row, two updates and the end row.
void BM_CoalesceSpanWithUpdates(benchmark::State& state) {
  run_coalescer(state, span_rows(static_cast<std::size_t>(state.range(0)), 7, 2));
}
BENCHMARK(BM_CoalesceSpanWithUpdates)->Arg(10000);

// Spans with the rows spanline-load logs: start, two different updates, end.
void BM_CoalesceLoadSpans(benchmark::State& state) {
  run_coalescer(state, load_span_rows(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(BM_CoalesceLoadSpans)->Arg(10000);

// ---- body assembly and encoding per batch size ----------------------------------------

void BM_AssembleBody(benchmark::State& state) {
  const Batch batch = batch_of_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    std::string body = assemble_body(batch);
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch.events.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.body_size()));
}
BENCHMARK(BM_AssembleBody)->Arg(64 << 10)->Arg(1 << 20)->Arg(4 << 20);

void run_encode(benchmark::State& state, Compression compression, int level) {
  Batch batch = batch_of_bytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    encode(batch, compression, level);
    benchmark::DoNotOptimize(batch.body.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.raw_body_bytes));
  state.counters["ratio"] = static_cast<double>(batch.raw_body_bytes) /
                            static_cast<double>(std::max<std::size_t>(1, batch.body.size()));
}

void BM_EncodeZstd1(benchmark::State& state) { run_encode(state, Compression::zstd, 1); }
BENCHMARK(BM_EncodeZstd1)->Arg(64 << 10)->Arg(1 << 20)->Arg(4 << 20)->Unit(benchmark::kMicrosecond);

void BM_EncodeZstd3(benchmark::State& state) { run_encode(state, Compression::zstd, 3); }
BENCHMARK(BM_EncodeZstd3)->Arg(64 << 10)->Arg(1 << 20)->Arg(4 << 20)->Unit(benchmark::kMicrosecond);

void BM_EncodeGzip(benchmark::State& state) { run_encode(state, Compression::gzip, 1); }
BENCHMARK(BM_EncodeGzip)->Arg(64 << 10)->Arg(1 << 20)->Arg(4 << 20)->Unit(benchmark::kMicrosecond);

void BM_DecodeZstd(benchmark::State& state) {
  Batch batch = batch_of_bytes(static_cast<std::size_t>(state.range(0)));
  encode(batch, Compression::zstd, 1);
  for (auto _ : state) {
    std::string raw = decompress(Compression::zstd, batch.body, batch.raw_body_bytes);
    benchmark::DoNotOptimize(raw.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.raw_body_bytes));
}
BENCHMARK(BM_DecodeZstd)->Arg(1 << 20)->Unit(benchmark::kMicrosecond);

// ---- the batcher thread end to end ------------------------------------------------------

// Settles every batch at once, as a sender that never fails would.
class CountingSink : public BatchSink {
 public:
  explicit CountingSink(Accounting& accounting) : accounting_(accounting) {}
  void submit(Batch batch) noexcept override {
    accounting_.delivered(batch, batch.raw_body_bytes, batch.body.size());
    const std::uint64_t rows = rows_.fetch_add(batch.source_rows()) + batch.source_rows();
    if (rows >= target_.load()) {
      std::lock_guard lock(mutex_);
      done_.notify_all();
    }
  }
  std::size_t payload_limit() const noexcept override { return std::size_t{6} << 20; }
  Compression encoding() const noexcept override { return encoding_; }

  void expect(std::uint64_t rows) { target_ = rows; }
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return rows_.load() >= target_.load(); });
  }
  Compression encoding_ = Compression::zstd;

 private:
  Accounting& accounting_;
  std::atomic<std::uint64_t> rows_{0};
  std::atomic<std::uint64_t> target_{0};
  std::mutex mutex_;
  std::condition_variable done_;
};

// Rows pushed by this thread, batched, coalesced, assembled and compressed by the
// batcher thread; the clock stops when the last row reached the sink.
// CPU time of every thread of the process so far: the batcher's and the encoder's work
// happens off the benchmark's thread, and wall time alone hides how much of it there is.
double process_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

enum class Rows { unique, spans, load_spans };

void run_batcher(benchmark::State& state, Compression compression, Rows kind) {
  constexpr std::size_t kRowsPerIteration = 20'000;
  const std::vector<Row> source = kind == Rows::spans        ? span_rows(kRowsPerIteration)
                                  : kind == Rows::load_spans ? load_span_rows(kRowsPerIteration)
                                                             : unique_rows(kRowsPerIteration);
  PipelineCounters counters;
  MemoryBudget budget(std::uint64_t{1} << 34, 100'000'000);
  Accounting accounting(counters, budget);
  RowQueue queue;
  ErrorReporter errors;
  CountingSink sink(accounting);
  sink.encoding_ = compression;
  // The argument is the encoder's worker count; 0 compresses on the batcher's thread.
  Encoder encoder(EncoderConfig{.threads = static_cast<std::size_t>(state.range(0))}, sink, accounting,
                  errors);
  Batcher batcher(BatcherConfig{.batch_max_bytes = std::size_t{2} << 20,
                                .batch_max_rows = 10'000,
                                .linger = std::chrono::milliseconds(20)},
                  queue, encoder, accounting, errors);
  encoder.start();
  batcher.start();
  std::uint64_t pushed = 0;
  double cpu_ns = 0;  // while timing runs: pushing here, batching and encoding there
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Row> rows = source;
    pushed += rows.size();
    sink.expect(pushed);
    state.ResumeTiming();
    const double cpu_start = process_cpu_ns();
    for (auto& row : rows) {
      (void)budget.try_acquire(row.budget_bytes());
      if (!queue.push(std::move(row))) state.SkipWithError("queue push failed");
    }
    batcher.begin_flush();
    sink.wait();
    batcher.end_flush();
    cpu_ns += process_cpu_ns() - cpu_start;
  }
  batcher.stop();
  encoder.stop();
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRowsPerIteration));
  state.counters["coalesced"] = static_cast<double>(counters.rows_coalesced.load());
  state.counters["cpu_ns_per_row"] =
      cpu_ns / static_cast<double>(std::max<std::int64_t>(1, state.iterations() * kRowsPerIteration));
}

void BM_BatcherUniqueZstd(benchmark::State& state) { run_batcher(state, Compression::zstd, Rows::unique); }
BENCHMARK(BM_BatcherUniqueZstd)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BatcherUniqueNone(benchmark::State& state) { run_batcher(state, Compression::none, Rows::unique); }
BENCHMARK(BM_BatcherUniqueNone)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BatcherSpansZstd(benchmark::State& state) { run_batcher(state, Compression::zstd, Rows::spans); }
BENCHMARK(BM_BatcherSpansZstd)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BatcherLoadSpansZstd(benchmark::State& state) {
  run_batcher(state, Compression::zstd, Rows::load_spans);
}
BENCHMARK(BM_BatcherLoadSpansZstd)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace spanline::detail
