// Caller-side cost of logging: one ~500-byte event row through spanline::Logger (1 and
// 2 producer threads): throughput, per-call latency in steady state (p50/p99 counters),
// and the stages of a call on their own (row JSON, budget atomics, queue push, clock).
// The logger sends to an in-process fake API (ids-only store) so the pipeline really
// drains while the caller is measured.

#include <spanline/logger.hpp>

#include <fake_api.hpp>

#include "produce/row_builder.hpp"
#include "core/wall_clock.hpp"
#include "accounting/memory_budget.hpp"
#include "queue/producer_gate.hpp"
#include "queue/row_queue.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
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

// What timing one call costs on its own: the median of back-to-back clock pairs, i.e.
// the duration an empty timed region reports. Every per-call sample carries about this
// much on top of the call; the *_net_ns counters subtract it.
double timer_overhead_p50_ns() {
  using Clock = std::chrono::steady_clock;
  std::vector<std::int64_t> empty(20'000);
  for (auto& sample : empty) {
    const auto t0 = Clock::now();
    const auto t1 = Clock::now();
    sample = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  std::nth_element(empty.begin(), empty.begin() + empty.size() / 2, empty.end());
  return static_cast<double>(empty[empty.size() / 2]);
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

// Per-call latency in steady state. Each producer thread offers `rate` rows/s in bursts
// of kBurst calls every kBurst/rate seconds and sleeps in between, so the batcher, the
// sender and the fake API (which share the machine's cores) keep up: the queue stays
// short and no call waits for room. Every call is timed on its own (steady_clock
// around log(); what an empty timed region reports is timer_ns, subtracted only in
// the *_net_ns counters).
// Counters: p50/p90/p99/p99.9/max per call, averaged over threads; achieved_rows_per_s;
// queue_rows_max (largest queue depth seen after a burst: small means steady state);
// dropped and refused must be 0. The first call of a burst follows a sleep, during
// which the batcher, sender and fake API ran on the same two cores and evicted the
// caller's caches: 1 call in 50, so it decides p99. first_p50_ns is the median of those
// calls alone, rest_p99_ns the p99 of the other 49 of each burst.
void BM_LogCallLatency(benchmark::State& state) {
  Pipeline& p = Pipeline::get();
  spanline::Fields row;
  build_row(row);
  using Clock = std::chrono::steady_clock;
  const auto rate = static_cast<double>(state.range(0));  // rows/s per thread
  constexpr std::size_t kBurst = 50;
  constexpr double kSeconds = 3.0;
  const auto bursts = static_cast<std::size_t>(rate * kSeconds / kBurst);
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kBurst / rate));
  std::vector<std::uint32_t> samples, first_samples, rest_samples;
  samples.reserve(bursts * kBurst);
  first_samples.reserve(bursts);
  rest_samples.reserve(bursts * kBurst);

  const double timer_ns = timer_overhead_p50_ns();

  const std::uint64_t dropped_before = p.logger.stats().rows_dropped_total();
  std::uint64_t refused = 0;
  std::uint64_t queue_max = 0;
  double seconds = 0;
  for (auto _ : state) {
    samples.clear();
    first_samples.clear();
    rest_samples.clear();
    const auto begin = Clock::now();
    auto next = begin;
    for (std::size_t b = 0; b < bursts; ++b) {
      std::this_thread::sleep_until(next);
      next += period;
      for (std::size_t i = 0; i < kBurst; ++i) {
        const auto t0 = Clock::now();
        const auto result = p.logger.log(p.to, row);
        const auto t1 = Clock::now();
        if (result != spanline::LogResult::queued) ++refused;
        const auto ns = static_cast<std::uint32_t>(std::min<std::int64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(), UINT32_MAX));
        samples.push_back(ns);
        (i == 0 ? first_samples : rest_samples).push_back(ns);
      }
      if (state.thread_index() == 0 && b % 8 == 0)
        queue_max = std::max(queue_max, p.logger.stats().queue_rows);
    }
    seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  }
  const auto quantile = [](std::vector<std::uint32_t>& values, double q) {
    std::sort(values.begin(), values.end());
    return static_cast<double>(values[std::min(
        values.size() - 1, static_cast<std::size_t>(q * static_cast<double>(values.size())))]);
  };
  auto at = [&](double q) { return quantile(samples, q); };
  const auto avg = benchmark::Counter::kAvgThreads;
  state.counters["p50_ns"] = benchmark::Counter(at(0.50), avg);
  state.counters["p90_ns"] = benchmark::Counter(at(0.90), avg);
  state.counters["p99_ns"] = benchmark::Counter(at(0.99), avg);
  state.counters["p999_ns"] = benchmark::Counter(at(0.999), avg);
  state.counters["max_ns"] = benchmark::Counter(static_cast<double>(samples.back()), avg);
  state.counters["timer_ns"] = benchmark::Counter(timer_ns, avg);
  state.counters["p50_net_ns"] = benchmark::Counter(at(0.50) - timer_ns, avg);
  state.counters["p99_net_ns"] = benchmark::Counter(at(0.99) - timer_ns, avg);
  state.counters["first_p50_ns"] = benchmark::Counter(quantile(first_samples, 0.50), avg);
  state.counters["rest_p99_ns"] = benchmark::Counter(quantile(rest_samples, 0.99), avg);
  state.counters["achieved_rows_per_s"] =
      benchmark::Counter(static_cast<double>(samples.size()) / seconds, benchmark::Counter::kDefaults);
  state.counters["refused"] = benchmark::Counter(static_cast<double>(refused));
  if (state.thread_index() == 0) {
    (void)p.logger.flush(std::chrono::seconds(60));
    state.counters["queue_rows_max"] = static_cast<double>(queue_max);
    state.counters["dropped"] = static_cast<double>(p.logger.stats().rows_dropped_total() - dropped_before);
  }
}
// The floor under BM_LogCallLatency: the same bursts, timing only what any row costs
// at the least, one ~700-byte heap string written with the row's ~650 bytes (no id, no
// clock, no queue). Each string is freed on this thread 2,000 rows later, outside the
// timed region, so malloc stays thread-local: a floor kinder than the logger's lot.
// On a VM whose cores are shared with the pipeline's threads, this alone takes well
// over 100 ns after the burst's first call.
void BM_LogCallFloor(benchmark::State& state) {
  spanline::Fields row;
  build_row(row);
  using Clock = std::chrono::steady_clock;
  const auto rate = static_cast<double>(state.range(0));
  constexpr std::size_t kBurst = 50;
  const auto bursts = static_cast<std::size_t>(rate * 3.0 / kBurst);
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kBurst / rate));
  std::vector<std::uint32_t> first_samples, rest_samples;
  std::vector<std::string> kept(2'000);
  std::size_t next_slot = 0;
  const double timer_ns = timer_overhead_p50_ns();
  for (auto _ : state) {
    auto next = Clock::now();
    for (std::size_t b = 0; b < bursts; ++b) {
      std::this_thread::sleep_until(next);
      next += period;
      for (std::size_t i = 0; i < kBurst; ++i) {
        const auto t0 = Clock::now();
        std::string text;
        text.reserve(row.body().size() + row.metrics_body().size() + 120);
        text += row.body();
        text += row.metrics_body();
        std::swap(kept[next_slot], text);
        const auto t1 = Clock::now();
        next_slot = (next_slot + 1) % kept.size();
        text = std::string();  // frees the string kept 2,000 rows ago, untimed
        (i == 0 ? first_samples : rest_samples)
            .push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
      }
    }
  }
  const auto quantile = [](std::vector<std::uint32_t>& values, double q) {
    std::sort(values.begin(), values.end());
    return static_cast<double>(values[std::min(
        values.size() - 1, static_cast<std::size_t>(q * static_cast<double>(values.size())))]);
  };
  const auto avg = benchmark::Counter::kAvgThreads;
  state.counters["timer_ns"] = benchmark::Counter(timer_ns, avg);
  state.counters["first_p50_ns"] = benchmark::Counter(quantile(first_samples, 0.5), avg);
  state.counters["rest_p50_ns"] = benchmark::Counter(quantile(rest_samples, 0.5), avg);
  state.counters["rest_p99_ns"] = benchmark::Counter(quantile(rest_samples, 0.99), avg);
}
BENCHMARK(BM_LogCallFloor)
    ->Arg(20'000)
    ->Arg(50'000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// 20k and 50k rows/s per thread: 10 and 25 MB/s of rows per thread, which the pipeline
// sustains on 2 shared cores (check queue_rows_max stays small).
// timer_ns is what an empty timed region reports (two steady_clock reads, median):
// p50_net_ns / p99_net_ns are p50 / p99 less that.
BENCHMARK(BM_LogCallLatency)
    ->Arg(20'000)
    ->Arg(50'000)
    ->Iterations(1)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The earlier latency benchmark, kept to compare with older figures: calls back to back
// (hot caches), a flush every 2,000 calls (untimed). Not steady state: the batcher sees
// bursts and a flush after each.
void BM_LogCallLatencyBursts(benchmark::State& state) {
  Pipeline& p = Pipeline::get();
  spanline::Fields row;
  build_row(row);
  constexpr std::size_t kCalls = 100'000, kChunk = 2'000;
  std::vector<std::uint32_t> samples;
  samples.reserve(kCalls);
  using Clock = std::chrono::steady_clock;
  // What an empty timed region reports, subtracted in the *_net_ns counters.
  const double timer_ns = timer_overhead_p50_ns();

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
  state.counters["p50_net_ns"] = benchmark::Counter(at(0.50) - timer_ns, avg);
  state.counters["p99_net_ns"] = benchmark::Counter(at(0.99) - timer_ns, avg);
}
BENCHMARK(BM_LogCallLatencyBursts)->Iterations(1)->Threads(1)->Threads(2)->UseRealTime();

// The caller-side stages of one log() call on their own, to see what costs: the row's
// JSON (id, created, body), the budget, the gate, the queue push (the row is popped
// and freed on this thread, so malloc stays thread-local here, unlike in the logger;
// BM_StageBuildAndPushCrossThread frees them on another thread, as the logger does).
void BM_StageBuildRow(benchmark::State& state) {
  spanline::Fields fields;
  build_row(fields);
  const spanline::detail::RowBuilder builder(spanline::IdFormat::uuid);
  for (auto _ : state) {
    spanline::detail::Row row = builder.event(0, fields, {});
    benchmark::DoNotOptimize(row.json.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageBuildRow);

void BM_StageBudget(benchmark::State& state) {
  spanline::detail::MemoryBudget budget(std::size_t{1} << 30, 1'000'000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(budget.try_acquire(600));
    budget.release(600, 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageBudget);

// The budget as log() takes it: from this thread's credit (a refill every 64 rows).
void BM_StageBudgetCredit(benchmark::State& state) {
  spanline::detail::MemoryBudget budget(std::size_t{1} << 30, 1'000'000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(budget.try_acquire_from_credit(600));
    budget.release(600, 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageBudgetCredit);

// Passing the producer gate (in and out), as every log() does.
void BM_StageGate(benchmark::State& state) {
  spanline::detail::ProducerGate gate;
  for (auto _ : state) {
    const auto pass = gate.enter();
    benchmark::DoNotOptimize(static_cast<bool>(pass));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageGate);

void BM_StageQueuePush(benchmark::State& state) {
  spanline::detail::RowQueue queue;
  std::vector<spanline::detail::Row> out(1024);
  std::size_t pushed = 0;
  for (auto _ : state) {
    spanline::detail::Row row;
    row.json = "x";
    benchmark::DoNotOptimize(queue.push(std::move(row)));
    if (++pushed == out.size()) {
      state.PauseTiming();
      while (queue.pop_bulk(out.data(), out.size(), std::chrono::microseconds(0)) != 0) {
      }
      pushed = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageQueuePush);

void BM_StageClocks(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::chrono::system_clock::now());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageClocks);

// The clock rows are stamped with (TSC-based where the TSC can be trusted).
void BM_StageWallClock(benchmark::State& state) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!spanline::detail::wall_clock_uses_tsc() && std::chrono::steady_clock::now() < deadline)
    (void)spanline::detail::wall_clock_now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(spanline::detail::wall_clock_now());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["uses_tsc"] = spanline::detail::wall_clock_uses_tsc() ? 1 : 0;
}
BENCHMARK(BM_StageWallClock);

// Building a row and queueing it, with the rows freed on another thread as in the
// logger (BM_StageBuildRow frees each row on this thread, so its memory comes back
// hot; here the allocator hands back memory another core touched last).
void BM_StageBuildAndPushCrossThread(benchmark::State& state) {
  spanline::Fields fields;
  build_row(fields);
  const spanline::detail::RowBuilder builder(spanline::IdFormat::uuid);
  spanline::detail::RowQueue queue;
  std::atomic<bool> stop{false};
  // Drains as the batcher does while rows flow: on its own timer, never asking pushes
  // to wake it.
  std::thread consumer([&] {
    std::vector<spanline::detail::Row> out(512);
    while (!stop.load(std::memory_order_relaxed)) {
      const std::size_t n = queue.pop_bulk(out.data(), out.size(), std::chrono::microseconds(200),
                                           spanline::detail::RowQueue::WakeOn::explicit_wake);
      for (std::size_t i = 0; i < n; ++i) out[i] = spanline::detail::Row{};  // frees the text here
    }
  });
  for (auto _ : state) {
    benchmark::DoNotOptimize(queue.push(builder.event(0, fields, {})));
  }
  stop.store(true);
  queue.wake();
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StageBuildAndPushCrossThread)->UseRealTime();

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
