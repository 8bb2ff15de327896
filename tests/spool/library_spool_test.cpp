// The durable spool wired into the in-process Logger, end to end against the fake
// Braintrust API on loopback: outage spill, replay on start, shutdown to the spool,
// corruption on disk, disk trouble and log_durable.
#include <spanline/logger.hpp>
#include <spanline/sidecar/logger.hpp>

#include "codec/codec.hpp"
#include "fake_api.hpp"
#include "spool/segment_format.hpp"
#include "spool/spool.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using detail::spool_test::TempDir;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;

constexpr const char* kProject = "5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c";

FaultConfig down() { return FaultConfig{.outage_start_s = 0, .outage_duration_s = 3600}; }

Options spool_options(const FakeApi& api, const std::filesystem::path& dir) {
  Options o{.api_key = "test-key", .api_url = api.base_url(), .linger = 5ms, .retry_base_delay = 10ms,
            .retry_max_delay = 200ms};
  o.spool_dir = dir.string();
  o.spool_fsync_interval = 20ms;
  return o;
}

Fields row_fields(int i) {
  Fields f;
  f.string("input", "question number " + std::to_string(i) + " about the export button on Firefox");
  f.string("output", "the export button fails silently; a CSV export is needed today");
  return f;
}

std::string row_id(int i) { return "row-" + std::to_string(i); }

using test_support::wait_for;

struct Reports {
  std::mutex mutex;
  std::vector<ErrorReport> all;
  ErrorHandler handler() {
    return [this](const ErrorReport& report) {
      std::lock_guard lock(mutex);
      all.push_back(report);
    };
  }
  bool any(const std::string& component, const std::string& text) {
    std::lock_guard lock(mutex);
    return std::any_of(all.begin(), all.end(), [&](const ErrorReport& r) {
      return r.component == component && r.message.find(text) != std::string::npos;
    });
  }
};

// Logs `rows` rows (ids row-<first>..) with the upstream down, then shuts down: every
// row goes to the spool.
FlushResult spill_rows_at_shutdown(FakeApi& api, const std::filesystem::path& dir, int first, int rows,
                                   std::size_t batch_rows) {
  api.set_faults(down());
  Options options = spool_options(api, dir);
  options.batch_max_rows = batch_rows;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  for (int i = first; i < first + rows; ++i) EXPECT_EQ(logger.log(to, row_fields(i), row_id(i)), LogResult::queued);
  return logger.shutdown(1500ms);
}

TEST(SpoolLibrary, ShutdownWritesPendingRowsToTheSpoolAndTheNextLoggerDeliversThem) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  constexpr int kRows = 2'000;
  const auto started = Clock::now();
  const FlushResult result = spill_rows_at_shutdown(api, dir.path(), 0, kRows, 100);
  const auto took = Clock::now() - started;
  EXPECT_LT(took, 1500ms + 1s) << "shutdown must keep (roughly) to its deadline";
  EXPECT_EQ(result.spooled, std::uint64_t{kRows});
  EXPECT_EQ(result.pending, 0u);
  EXPECT_EQ(result.dropped, 0u);
  EXPECT_EQ(result.delivered, 0u);
  EXPECT_EQ(api.stats().unique_rows, 0u);

  api.set_faults({});
  Logger again(spool_options(api, dir.path()));
  ASSERT_TRUE(wait_for([&] { return api.stats().unique_rows >= kRows; }, 20s))
      << "replayed " << api.stats().unique_rows;
  EXPECT_EQ(api.row_count("project_logs", kProject), std::size_t{kRows});
  for (int i = 0; i < kRows; i += 97) EXPECT_TRUE(api.row("project_logs", kProject, row_id(i)).has_value()) << i;
  ASSERT_TRUE(wait_for([&] { return again.stats().spool.rows_replayed_delivered == kRows; }, 5s));
  const Stats stats = again.stats();
  EXPECT_TRUE(stats.spool.enabled);
  EXPECT_EQ(stats.rows_delivered, std::uint64_t{kRows});
  EXPECT_GE(stats.spool.records_replayed, std::uint64_t{kRows / 100});
  // Everything acknowledged: the spool empties its segments.
  EXPECT_TRUE(wait_for([&] { return again.stats().spool.replay_lag_bytes == 0; }, 5s));
}

TEST(SpoolLibrary, ReplayIsolatesARowTheApiRefusesAndDeliversTheRestOfItsRecord) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  constexpr int kRows = 500;
  constexpr int kBad = 321;
  {
    api.set_faults(down());
    Options options = spool_options(api, dir.path());
    options.batch_max_rows = kRows;
    Logger logger(options);
    logger.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = logger.destination(Destination::project(kProject));
    for (int i = 0; i < kRows; ++i) {
      Fields fields = row_fields(i);
      // Nested deeper than the fake API's JSON parser takes: "400 body is not valid JSON: too deep".
      if (i == kBad) fields.json_unchecked("nested", std::string(40, '[') + std::string(40, ']'));
      ASSERT_EQ(logger.log(to, fields, row_id(i)), LogResult::queued);
    }
    ASSERT_EQ(logger.shutdown(1500ms).spooled, std::uint64_t{kRows});
  }
  api.set_faults({});
  Reports reports;
  Logger again(spool_options(api, dir.path()));
  // Set before the refusal can come: that takes the version probe and a dozen requests.
  again.set_error_handler(reports.handler());
  ASSERT_TRUE(wait_for([&] { return again.stats().spool.replay_lag_bytes == 0; }, 20s));
  const Stats stats = again.stats();
  EXPECT_EQ(stats.spool.rows_replayed_delivered, std::uint64_t{kRows - 1});
  EXPECT_EQ(stats.rows_rejected, 1u);
  EXPECT_GT(stats.isolation_requests, 0u);
  EXPECT_EQ(api.row_count("project_logs", kProject), std::size_t{kRows - 1});
  EXPECT_FALSE(api.row("project_logs", kProject, row_id(kBad)).has_value());
  EXPECT_TRUE(reports.any("sender", "first refused row id \"" + row_id(kBad) + "\""));
}

// The ids of the events in a record's payload. A record that is not the body the
// sender writes fails the test with what it holds (no exception: an earlier version
// threw "not an object" from Boost.JSON, which said nothing about the record).
std::vector<std::string> record_ids(const detail::SpoolRecord& record) {
  std::vector<std::string> ids;
  const std::string where = "record at segment " + std::to_string(record.id.segment) + " offset " +
                            std::to_string(record.id.offset) + " (" + std::string(to_string(record.encoding)) +
                            ", " + std::to_string(record.raw_bytes) + " raw bytes, " +
                            std::to_string(record.source_rows) + " rows)";
  std::string raw;
  try {
    raw = detail::decompress(record.encoding, record.payload, std::size_t{record.raw_bytes} + 1);
  } catch (const std::exception& e) {
    ADD_FAILURE() << where << ": cannot decode: " << e.what();
    return ids;
  }
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(raw, ec);
  const boost::json::object* object = ec ? nullptr : body.if_object();
  const boost::json::value* events = object != nullptr ? object->if_contains("events") : nullptr;
  if (events == nullptr || !events->is_array()) {
    ADD_FAILURE() << where << " is not an {\"events\":[...]} body: " << raw.substr(0, 300);
    return ids;
  }
  for (const auto& event : events->get_array()) {
    const boost::json::value* id = event.is_object() ? event.get_object().if_contains("id") : nullptr;
    if (id == nullptr || !id->is_string()) {
      ADD_FAILURE() << where << " holds an event without a string id: " << boost::json::serialize(event).substr(0, 300)
                    << "\nbody: " << raw.substr(0, 300);
      continue;
    }
    ids.emplace_back(id->get_string());
  }
  return ids;
}

TEST(SpoolLibrary, CorruptAndTruncatedRecordsAreSkippedAndEverythingElseArrives) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  constexpr int kRows = 1'000;
  const FlushResult result = spill_rows_at_shutdown(api, dir.path(), 0, kRows, 50);
  ASSERT_EQ(result.spooled, std::uint64_t{kRows});

  // Find the records (without acknowledging any) and the rows each holds.
  struct Found {
    detail::RecordId id;
    std::uint64_t size;
    std::vector<std::string> ids;
  };
  std::vector<Found> records;
  {
    detail::SpoolError error;
    auto spool = detail::Spool::open(detail::SpoolOptions{.directory = dir.path()}, error);
    ASSERT_TRUE(spool) << error.message;
    while (auto record = spool->next_record()) records.push_back({record->id, record->size, record_ids(*record)});
    spool->close();
  }
  ASSERT_GE(records.size(), 4u);
  // The last record of the segment that holds record 1.
  const std::uint64_t segment = records[1].id.segment;
  std::size_t last = 1;
  for (std::size_t i = 0; i < records.size(); ++i)
    if (records[i].id.segment == segment) last = i;
  ASSERT_GT(last, 2u);
  std::filesystem::path file;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (detail::parse_segment_name(entry.path().filename().string()) == segment) file = entry.path();
  }
  ASSERT_FALSE(file.empty());
  {
    // Flip bytes in the middle of record 1, and cut the last record in half.
    const int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t middle = static_cast<off_t>(records[1].id.offset + records[1].size / 2);
    char bytes[4];
    ASSERT_EQ(::pread(fd, bytes, sizeof bytes, middle), 4);
    for (char& b : bytes) b = static_cast<char>(~b);
    ASSERT_EQ(::pwrite(fd, bytes, sizeof bytes, middle), 4);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(records[last].id.offset + records[last].size / 2)), 0);
    ::close(fd);
  }
  std::set<std::string> lost(records[1].ids.begin(), records[1].ids.end());
  lost.insert(records[last].ids.begin(), records[last].ids.end());

  api.set_faults({});
  Logger again(spool_options(api, dir.path()));
  const std::uint64_t expected = kRows - lost.size();
  ASSERT_TRUE(wait_for([&] { return api.stats().unique_rows >= expected; }, 20s))
      << "replayed " << api.stats().unique_rows << " of " << expected;
  ASSERT_TRUE(wait_for(
      [&] {
        const Stats s = again.stats();
        return s.spool.records_corrupt >= 1 && s.spool.records_truncated >= 1;
      },
      5s));
  EXPECT_EQ(api.stats().unique_rows, expected);
  for (int i = 0; i < kRows; ++i) {
    EXPECT_EQ(api.row("project_logs", kProject, row_id(i)).has_value(), lost.count(row_id(i)) == 0) << i;
  }
  const Stats stats = again.stats();
  EXPECT_EQ(stats.spool.records_corrupt, 1u);
  EXPECT_EQ(stats.spool.records_truncated, 1u);
}

TEST(SpoolLibrary, LogDurableIsOnDiskBeforeItReturnsAndReplayDeliversIt) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(spool_options(api, dir.path()));
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  std::vector<PreparedRow> rows;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "durable-" + std::to_string(i);
    rows.push_back(PreparedRow{.json = R"({"id":")" + id + R"(","input":"durable row"})",
                               .id_offset = 7,
                               .id_size = static_cast<std::uint32_t>(id.size())});
  }
  const auto started = Clock::now();
  EXPECT_EQ(sidecar::log_durable(logger, to, rows, 5s), DurableResult::durable);
  // sync_on_wait: about one fsync, not a whole interval per call.
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_GE(logger.stats().spool.records_written, 1u);
  ASSERT_TRUE(wait_for([&] { return api.stats().unique_rows == 300; }, 10s)) << api.stats().unique_rows;
  EXPECT_TRUE(api.row("project_logs", kProject, "durable-299").has_value());
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.rows_replayed_delivered == 300; }, 5s));
  EXPECT_EQ(logger.stats().spool.rows_spilled, 300u);

  (void)logger.shutdown(1s);
  EXPECT_EQ(sidecar::log_durable(logger, to, rows, 1s), DurableResult::closed);
}

// Durable records go to disk as they are while replay keeps up (replay compresses many
// of them together), and compressed once records pile up with the host down, so that the
// spool holds as many rows in an outage as before.
TEST(SpoolLibrary, LogDurableCompressesRecordsOnlyOnceABacklogBuilds) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  api.set_faults(down());
  constexpr int kRecords = 300;  // past the backlog of 256 unacknowledged records
  {
    Logger logger(spool_options(api, dir.path()));
    logger.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = logger.destination(Destination::project(kProject));
    for (int r = 0; r < kRecords; ++r) {
      const std::string id = "backlog-" + std::to_string(r);
      std::vector<PreparedRow> rows{PreparedRow{.json = R"({"id":")" + id + R"(","input":")" +
                                                        std::string(200, 'q') + R"("})",
                                                .id_offset = 7,
                                                .id_size = static_cast<std::uint32_t>(id.size())}};
      ASSERT_EQ(sidecar::log_durable(logger, to, rows, 5s), DurableResult::durable);
    }
    (void)logger.shutdown(500ms);
  }
  detail::SpoolError error;
  auto spool = detail::Spool::open(detail::SpoolOptions{.directory = dir.path()}, error);
  ASSERT_TRUE(spool) << error.message;
  std::vector<Compression> encodings;
  while (auto record = spool->next_record()) encodings.push_back(record->encoding);
  ASSERT_EQ(encodings.size(), std::size_t{kRecords});
  EXPECT_EQ(encodings.front(), Compression::none);
  EXPECT_EQ(encodings.back(), Compression::zstd);
  // Once compressed, always compressed while the backlog lasts.
  const auto first_compressed = std::find(encodings.begin(), encodings.end(), Compression::zstd);
  EXPECT_TRUE(
      std::all_of(first_compressed, encodings.end(), [](Compression c) { return c == Compression::zstd; }));
}

TEST(SpoolLibrary, LogDurableWithoutASpoolSaysSo) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(Options{.api_key = "test-key", .api_url = api.base_url()});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  std::vector<PreparedRow> rows{PreparedRow{.json = R"({"id":"x1"})", .id_offset = 7, .id_size = 2}};
  EXPECT_EQ(sidecar::log_durable(logger, to, rows, 1s), DurableResult::no_spool);
  EXPECT_FALSE(logger.stats().spool.enabled);
}

TEST(SpoolLibrary, UnwritableSpoolDirectoryIsReportedAndTheLoggerRunsWithoutIt) {
  TempDir temp;
  std::filesystem::permissions(temp.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::replace);
  std::filesystem::path unusable = temp.path();
  {
    const std::filesystem::path probe = temp.path() / "probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
      // chmod does not stop this user (root): use a directory below a regular file instead.
      ::close(fd);
      unusable = probe / "spool";
    }
  }
  struct {
    const std::filesystem::path& path() const { return dir; }
    std::filesystem::path dir;
  } dir{unusable};
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Options options = spool_options(api, dir.path());
  options.overflow = OverflowPolicy::spill;
  Reports reports;
  // The open happens in the constructor, before a handler can be set: capture stderr.
  testing::internal::CaptureStderr();
  auto logger = std::make_unique<Logger>(options);
  const std::string said = testing::internal::GetCapturedStderr();
  logger->set_error_handler(reports.handler());
  EXPECT_NE(said.find(dir.path().string()), std::string::npos) << said;
  EXPECT_NE(said.find("running without a spool"), std::string::npos) << said;
  EXPECT_FALSE(logger->stats().spool.enabled);

  const DestinationHandle to = logger->destination(Destination::project(kProject));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(logger->log(to, row_fields(i), row_id(i)), LogResult::queued);
  const FlushResult flushed = logger->flush(10s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_EQ(flushed.delivered, 100u);
  std::vector<PreparedRow> rows{PreparedRow{.json = R"({"id":"x1"})", .id_offset = 7, .id_size = 2}};
  EXPECT_EQ(sidecar::log_durable(*logger, to, rows, 1s), DurableResult::no_spool);

  // Fallback at shutdown: no spool, so what is left is dropped as shutdown.
  api.set_faults(down());
  for (int i = 100; i < 200; ++i) (void)logger->log(to, row_fields(i), row_id(i));
  const FlushResult result = logger->shutdown(300ms);
  EXPECT_EQ(result.spooled, 0u);
  EXPECT_EQ(result.delivered + result.dropped, 200u);
  EXPECT_EQ(logger->stats().dropped(DropReason::shutdown), result.dropped);
}

TEST(SpoolLibrary, AFullSpoolDropsRowsAsSpoolFullAndSaysSo) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = down()});
  Options options = spool_options(api, dir.path());
  options.spool_max_bytes = 8192;
  options.spool_segment_bytes = 4096;
  options.batch_max_rows = 10;
  Reports reports;
  Logger logger(options);
  logger.set_error_handler(reports.handler());
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kRows = 500;
  std::mt19937 rng(3);
  for (int i = 0; i < kRows; ++i) {
    std::string noise(200, ' ');
    for (char& c : noise) c = static_cast<char>('a' + rng() % 26);  // hardly compressible
    Fields f;
    f.string("input", noise);
    EXPECT_EQ(logger.log(to, f, row_id(i)), LogResult::queued);
  }
  const FlushResult result = logger.shutdown(1500ms);
  const Stats stats = logger.stats();
  EXPECT_GT(stats.dropped(DropReason::spool_full), 0u);
  EXPECT_GT(result.spooled, 0u);
  EXPECT_EQ(result.spooled + stats.dropped(DropReason::spool_full), std::uint64_t{kRows});
  EXPECT_EQ(result.pending, 0u);
  EXPECT_LE(stats.spool.bytes_on_disk, 8192u);
  EXPECT_TRUE(reports.any("sender", "spool")) << "a refused append must be reported";
}

// Spans flow with overflow = spill and a small budget while the upstream refuses
// everything for `outage`; afterwards every row arrives and the budget held.
void run_outage(std::chrono::milliseconds outage, std::chrono::milliseconds produce_for, int spans_per_ms) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key",
                           .faults = FaultConfig{.outage_start_s = 0,
                                                 .outage_duration_s = std::chrono::duration<double>(outage).count()}});
  Options options = spool_options(api, dir.path());
  options.overflow = OverflowPolicy::spill;
  options.max_queue_bytes = 256 << 10;
  // A producer waits while the sender spools to make room. On a loaded machine the
  // sender can be starved for seconds, and a row refused after a short wait would fail
  // this test for the machine's sake; the wait's bound is not what it checks. A sender
  // that stops spilling for good still fails it (refused rows, an incomplete flush).
  options.block_timeout = 30s;
  options.spool_outage_after = 300ms;
  options.batch_max_rows = 200;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));

  std::atomic<bool> sampling{true};
  std::atomic<std::uint64_t> max_memory{0};
  std::atomic<std::uint64_t> max_row_memory{0};
  std::thread sampler([&] {
    while (sampling.load()) {
      const Stats now = logger.stats();
      max_memory = std::max<std::uint64_t>(max_memory.load(), now.memory_bytes);
      // The two gauges are read one after the other, so bodies may briefly read larger.
      const std::uint64_t rows = now.memory_bytes > now.memory_body_bytes ? now.memory_bytes - now.memory_body_bytes : 0;
      max_row_memory = std::max<std::uint64_t>(max_row_memory.load(), rows);
      std::this_thread::sleep_for(2ms);
    }
  });
  std::uint64_t spans = 0, refused = 0;
  const auto stop_at = Clock::now() + produce_for;
  while (Clock::now() < stop_at) {
    for (int k = 0; k < spans_per_ms; ++k) {
      Span span = logger.start_span(to, {.name = "chat", .type = "llm"}, row_fields(static_cast<int>(spans)));
      if (span.end() != LogResult::queued) ++refused;
      ++spans;
    }
    std::this_thread::sleep_for(1ms);  // pacing the producer, not waiting for a condition
  }
  const FlushResult flushed = logger.flush(60s);
  EXPECT_TRUE(flushed.complete) << "pending " << flushed.pending;
  EXPECT_EQ(refused, 0u);
  EXPECT_EQ(flushed.dropped, 0u);
  EXPECT_GT(flushed.spooled, 0u);
  EXPECT_TRUE(wait_for([&] { return api.stats().unique_rows >= spans; }, 120s))
      << api.stats().unique_rows << " of " << spans;
  sampling = false;
  sampler.join();
  EXPECT_EQ(api.stats().unique_rows, spans);
  const Stats stats = logger.stats();
  EXPECT_GT(stats.spool.rows_spilled, 0u);
  EXPECT_GT(stats.spool.rows_replayed_delivered, 0u);
  // Admission keeps rows strictly within the budget. Encoded bodies are charged without
  // refusal (the encoder must never wait for room only its own output frees), against the
  // room rows leave at the body-to-row ratio seen so far, so rows and bodies together may
  // pass the budget briefly by how much worse a batch compressed than that average
  // (docs/memory.md): seen as a few hundred bytes here; a sixteenth of the budget is the
  // allowance, far below a batch that was never counted at all.
  EXPECT_LE(max_row_memory.load(), options.max_queue_bytes);
  EXPECT_LE(max_memory.load(), options.max_queue_bytes + options.max_queue_bytes / 16);
  EXPECT_EQ(stats.rows_dropped_total(), 0u);
  std::cout << "[ outage   ] spans " << spans << ", rows spilled " << stats.spool.rows_spilled
            << ", rows replayed " << stats.spool.rows_replayed_delivered << ", max memory " << max_memory.load()
            << " of " << options.max_queue_bytes << " bytes\n";
}

TEST(SpoolLibrary, OutageSpillsToDiskWithinTheBudgetAndEverythingArrives) { run_outage(3s, 4s, 5); }

TEST(SpoolLibrarySoak, TwentySecondOutageTwoHundredThousandSpans) { run_outage(20s, 25s, 9); }

}  // namespace
}  // namespace spanline
