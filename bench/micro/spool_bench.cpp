// Spool throughput: append with group commit (fsync every 100 ms, the default), append
// plus a durable wait per record from several threads (the daemon's durable-ack
// ingest), and streaming replay. Payloads are random bytes standing in for zstd-encoded
// batch bodies; `rows` assumes ~100 compressed bytes per span (a ~1 KiB span at a
// typical 10x zstd ratio), so rows/s is a rough spans/s figure.

#include "spool/spool.hpp"

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

namespace spanline::detail {
namespace {

class BenchDir {
 public:
  BenchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("spanline-spool-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string random_payload(std::size_t size) {
  std::mt19937_64 rng(size);
  std::string s(size, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

const std::string kKey = "project_logs:0b5c1f0e-6d2a-4c35-9a55-1d9e4c1e2f00";

SpoolEntry entry_for(const std::string& payload) {
  return SpoolEntry{.destination_key = kKey,
                    .encoding = Compression::zstd,
                    .source_rows = static_cast<std::uint32_t>(payload.size() / 100 + 1),
                    .raw_bytes = static_cast<std::uint32_t>(payload.size() * 10),
                    .payload = payload};
}

std::unique_ptr<Spool> open_spool(const std::filesystem::path& dir, bool sync_on_wait = false) {
  SpoolError error;
  auto spool = Spool::open(
      SpoolOptions{.directory = dir, .sync_on_wait = sync_on_wait, .max_bytes = std::uint64_t{64} << 30},
      error);
  if (!spool) throw std::runtime_error(error.message);
  return spool;
}

void set_rates(benchmark::State& state, std::uint64_t records, std::uint64_t bytes, std::uint64_t rows) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
}

// Appends one record per iteration; group commit fsyncs in the background. The final
// sync() is timed too, so the figure is for data that reached the disk.
void BM_SpoolWrite(benchmark::State& state) {
  const std::string payload = random_payload(static_cast<std::size_t>(state.range(0)));
  BenchDir dir;
  auto spool = open_spool(dir.path());
  std::uint64_t records = 0;
  for (auto _ : state) {
    const AppendResult r = spool->append(entry_for(payload));
    if (!r.ok()) {
      state.SkipWithError(r.error.message.empty() ? "append failed" : r.error.message.c_str());
      break;
    }
    ++records;
  }
  if (spool->sync(std::chrono::steady_clock::now() + std::chrono::seconds(60)) != SpoolStatus::ok) {
    state.SkipWithError("sync failed");
  }
  const SpoolMetrics m = spool->metrics();
  state.counters["fsyncs"] = static_cast<double>(m.fsyncs);
  set_rates(state, records, records * payload.size(), records * entry_for(payload).source_rows);
}
BENCHMARK(BM_SpoolWrite)
    ->Arg(4 << 10)
    ->Arg(64 << 10)
    ->Arg(512 << 10)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Each thread appends and waits until its record is durable, as a durable-ack HTTP
// request does: throughput comes from many waiters sharing each fsync. Second
// argument: sync_on_wait (0: waiters wait for the 100 ms interval; 1: fsync at once).
std::unique_ptr<Spool> g_durable_spool;
std::unique_ptr<BenchDir> g_durable_dir;

void BM_SpoolWriteDurable(benchmark::State& state) {
  const std::string payload = random_payload(static_cast<std::size_t>(state.range(0)));
  if (state.thread_index() == 0) {
    g_durable_dir = std::make_unique<BenchDir>();
    g_durable_spool = open_spool(g_durable_dir->path(), state.range(1) != 0);
  }
  std::uint64_t records = 0;
  for (auto _ : state) {
    const AppendResult r = g_durable_spool->append(entry_for(payload));
    if (!r.ok() ||
        g_durable_spool->wait_durable(
            r.sequence, std::chrono::steady_clock::now() + std::chrono::seconds(60)) != SpoolStatus::ok) {
      state.SkipWithError("durable append failed");
      break;
    }
    ++records;
  }
  set_rates(state, records, records * payload.size(), records * entry_for(payload).source_rows);
  if (state.thread_index() == 0) {
    state.counters["fsyncs"] = static_cast<double>(g_durable_spool->metrics().fsyncs);
    g_durable_spool.reset();
    g_durable_dir.reset();
  }
}
BENCHMARK(BM_SpoolWriteDurable)
    ->Args({4 << 10, 0})
    ->Args({4 << 10, 1})
    ->Threads(1)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Streams a 256 MiB spool from the start (open + read every record, CRC checked),
// as replay does after an outage. The page cache is warm: this is the CPU side.
void BM_SpoolReplay(benchmark::State& state) {
  const std::string payload = random_payload(static_cast<std::size_t>(state.range(0)));
  BenchDir dir;
  const std::uint64_t count = (std::uint64_t{256} << 20) / payload.size();
  {
    auto spool = open_spool(dir.path());
    for (std::uint64_t i = 0; i < count; ++i) {
      if (!spool->append(entry_for(payload)).ok()) {
        state.SkipWithError("setup append failed");
        return;
      }
    }
  }
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    auto spool = open_spool(dir.path());
    while (auto record = spool->next_record()) {
      ++records;
      bytes += record->payload.size();
      benchmark::DoNotOptimize(record->payload.data());
    }
    if (spool->metrics().records_replayed != count) state.SkipWithError("replay lost records");
  }
  set_rates(state, records, bytes, records * entry_for(payload).source_rows);
}
BENCHMARK(BM_SpoolReplay)->Arg(4 << 10)->Arg(64 << 10)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace spanline::detail
