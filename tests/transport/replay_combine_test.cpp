// Replay sends small spool records of one destination together (replay_feeder.hpp): fewer
// requests than records, every row once, and each record acknowledged in the spool on its
// own, only once the request that carried it was delivered.

#include "transport/sender.hpp"

#include "accounting/accounting.hpp"
#include "accounting/memory_budget.hpp"
#include "batch/batch.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "fake_api.hpp"
#include "metrics/counters.hpp"
#include "spool/row_keys.hpp"
#include "spool/spool.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
using test_support::wait_for;

constexpr auto kWait = 30s;  // generous: the suite runs on a loaded 2-core machine

struct Pipeline {
  PipelineCounters counters;
  MemoryBudget budget{std::uint64_t{1} << 34, std::uint64_t{1} << 26};
  Accounting accounting{counters, budget};
  DestinationTable destinations;
  ErrorReporter errors{std::chrono::seconds(5)};
};

Options replay_options(const std::string& url) {
  Options options;
  options.api_url = url;
  options.api_key = "test-key";
  options.retry_base_delay = 10ms;
  options.retry_max_delay = 200ms;
  options.connect_timeout = 5s;
  options.request_timeout = 10s;
  // Long enough that every record of a test is read before the first request goes, even
  // on a loaded machine: the counts below do not depend on timing.
  options.linger = 1s;
  return options;
}

std::unique_ptr<Spool> open_spool(const spool_test::TempDir& dir) {
  SpoolError error;
  auto spool = Spool::open(SpoolOptions{.directory = dir.path(), .fsync_interval = 10ms}, error);
  EXPECT_TRUE(spool) << error.message;
  return spool;
}

// One record of `rows` rows with ids "<prefix><i>" (`bad_at`: that row one the fake API
// refuses with 400, too deeply nested), written as log_durable writes them: encoded,
// with its row keys registered for the replay order.
void append_record(Spool& spool, Pipeline& p, std::uint32_t destination, const std::string& prefix, int rows,
                   int bad_at = -1, Compression encoding = Compression::zstd) {
  Batch batch;
  batch.destination = destination;
  std::vector<RowKey> keys;
  for (int i = 0; i < rows; ++i) {
    const std::string id = prefix + std::to_string(i);
    const std::string input = i == bad_at ? std::string(40, '[') + std::string(40, ']') : "\"some text\"";
    batch.events.push_back(BatchEvent{.json = R"({"id":")" + id + R"(","input":)" + input + "}"});
    keys.push_back(row_key(id));
  }
  encode(batch, encoding, 1);
  const AppendResult appended =
      spool.append(SpoolEntry{.destination_key = p.destinations.get(destination).key(),
                              .encoding = batch.encoding,
                              .source_rows = static_cast<std::uint32_t>(rows),
                              .raw_bytes = static_cast<std::uint32_t>(batch.raw_body_bytes),
                              .payload = batch.body,
                              .rows = RecordRows{.destination = destination, .keys = keys}});
  ASSERT_TRUE(appended.ok());
}

std::vector<fakeapi::RequestRecord> inserts(const FakeApi& api) {
  std::vector<fakeapi::RequestRecord> out;
  for (auto& request : api.request_log())
    if (request.target.find("/insert") != std::string::npos) out.push_back(std::move(request));
  return out;
}

TEST(ReplayCombine, SmallRecordsShareRequestsAndEveryRowArrivesOnce) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  spool_test::TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-combine")).index;
  constexpr int kRecords = 40;
  constexpr int kRows = 5;
  for (int r = 0; r < kRecords; ++r) append_record(*spool, p, dest, "c-" + std::to_string(r) + "-", kRows);

  {
    Sender sender(replay_options(api.base_url()), p.destinations, p.accounting, p.errors, spool.get());
    sender.start();
    ASSERT_TRUE(wait_for([&] { return p.counters.records_replay_delivered.load() == kRecords; }, kWait))
        << p.counters.records_replay_delivered.load() << " records delivered";
    sender.shutdown(std::chrono::steady_clock::now() + 5s);
  }
  const auto sent = inserts(api);
  EXPECT_LT(sent.size(), std::size_t{kRecords / 4}) << "records were not combined";
  EXPECT_GT(std::max_element(sent.begin(), sent.end(), [](auto& a, auto& b) { return a.events < b.events; })
                ->events,
            std::size_t{kRows});
  EXPECT_EQ(p.counters.batches_sent.load(), sent.size());  // one acknowledged request each
  EXPECT_EQ(p.counters.rows_replayed_delivered.load(), std::uint64_t{kRecords * kRows});
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRecords * kRows});
  EXPECT_EQ(api.stats().duplicate_rows, 0u);
  EXPECT_EQ(spool->metrics().records_acked, std::uint64_t{kRecords});

  // Each record was acknowledged on disk: the next run replays none of them.
  spool->close();
  spool.reset();
  auto reopened = open_spool(dir);
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(reopened->next_record().has_value());
}

TEST(ReplayCombine, AFailedCombinedRequestLeavesEveryRecordUnackedUntilItIsDelivered) {
  ServerConfig config{.api_key = "test-key"};
  config.faults.outage_start_s = 0;
  config.faults.outage_duration_s = 24 * 3600;
  FakeApi api(config);
  spool_test::TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-combine-fail")).index;
  constexpr int kRecords = 10;
  constexpr int kRows = 5;
  for (int r = 0; r < kRecords; ++r) append_record(*spool, p, dest, "f-" + std::to_string(r) + "-", kRows);

  Sender sender(replay_options(api.base_url()), p.destinations, p.accounting, p.errors, spool.get());
  sender.start();
  // The request failed, and was tried again.
  ASSERT_TRUE(wait_for(
      [&] {
        const auto sent = inserts(api);
        return std::count_if(sent.begin(), sent.end(), [](auto& r) { return r.status == 503; }) >= 2;
      },
      kWait));
  EXPECT_EQ(spool->metrics().records_outstanding, std::uint64_t{kRecords});
  EXPECT_EQ(spool->metrics().records_acked, 0u);
  EXPECT_EQ(p.counters.rows_replayed_delivered.load(), 0u);
  EXPECT_EQ(api.stats().unique_rows, 0u);

  api.set_faults(fakeapi::FaultConfig{});  // the host is back
  ASSERT_TRUE(wait_for([&] { return p.counters.records_replay_delivered.load() == kRecords; }, kWait));
  sender.shutdown(std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRecords * kRows});
  EXPECT_EQ(api.stats().duplicate_rows, 0u);
  EXPECT_EQ(spool->metrics().records_acked, std::uint64_t{kRecords});
  EXPECT_EQ(p.counters.rows_rejected.load(), 0u);
  // What failed went again whole: one request carried every record once the host was back.
  const auto sent = inserts(api);
  ASSERT_EQ(std::count_if(sent.begin(), sent.end(), [](auto& r) { return r.status == 200; }), 1);
  EXPECT_EQ(sent.back().status, 200);
  EXPECT_EQ(sent.back().events, std::size_t{kRecords * kRows});
}

// A 400 about one row is not the other records' business: the combined request goes back
// to its records, each sent alone, and only the one holding the bad row isolates it.
TEST(ReplayCombine, ARowRefusedInACombinedRequestIsIsolatedWithinItsOwnRecord) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  spool_test::TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-combine-bad")).index;
  constexpr int kRecords = 6;
  constexpr int kRows = 4;
  for (int r = 0; r < kRecords; ++r)
    append_record(*spool, p, dest, "b-" + std::to_string(r) + "-", kRows, r == 3 ? 2 : -1);

  {
    Sender sender(replay_options(api.base_url()), p.destinations, p.accounting, p.errors, spool.get());
    sender.start();
    ASSERT_TRUE(wait_for(
        [&] {
          const auto m = spool->metrics();
          return m.records_acked + m.records_rejected == kRecords;
        },
        kWait));
    sender.shutdown(std::chrono::steady_clock::now() + 5s);
  }
  const auto sent = inserts(api);
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.front().status, 400);  // all of them, combined
  // Then each record alone: the good ones whole, the bad one in parts.
  EXPECT_GE(std::count_if(sent.begin(), sent.end(),
                          [](auto& r) { return r.status == 200 && r.events == std::size_t{kRows}; }),
            kRecords - 1);
  EXPECT_EQ(p.counters.rows_rejected.load(), 1u);
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRecords * kRows - 1});
  EXPECT_EQ(api.stats().duplicate_rows, 0u);
  EXPECT_TRUE(api.row("project_logs", "p-combine-bad", "b-3-1").has_value());
  EXPECT_FALSE(api.row("project_logs", "p-combine-bad", "b-3-2").has_value());
  // The record with the refused row counts as refused, the others as delivered.
  EXPECT_EQ(spool->metrics().records_rejected, 1u);
  EXPECT_EQ(spool->metrics().records_acked, std::uint64_t{kRecords - 1});
}

// While the host pauses after a 429 no request starts, combined or not; the combined
// request is sent again whole once the pause is over.
TEST(ReplayCombine, NoCombinedRequestStartsInsideA429Pause) {
  ServerConfig config{.api_key = "test-key"};
  config.faults.fail_429 = 1.0;
  config.faults.retry_after_s = 1;
  FakeApi api(config);
  spool_test::TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-combine-429")).index;
  constexpr int kRecords = 8;
  constexpr int kRows = 3;
  for (int r = 0; r < kRecords; ++r) append_record(*spool, p, dest, "t-" + std::to_string(r) + "-", kRows);

  Options options = replay_options(api.base_url());
  options.max_payload_bytes = std::size_t{6} << 20;  // no GET /version, which would get 429s too
  Sender sender(options, p.destinations, p.accounting, p.errors, spool.get());
  sender.start();
  ASSERT_TRUE(wait_for([&] { return !inserts(api).empty(); }, kWait));
  api.set_faults(fakeapi::FaultConfig{});
  ASSERT_TRUE(wait_for([&] { return p.counters.records_replay_delivered.load() == kRecords; }, kWait));
  sender.shutdown(std::chrono::steady_clock::now() + 5s);

  const auto sent = inserts(api);
  ASSERT_GE(sent.size(), 2u);
  for (std::size_t i = 1; i < sent.size(); ++i) {
    if (sent[i - 1].status != 429) continue;
    // Recorded as each answer is written: the next request was read after the pause.
    EXPECT_GE(sent[i].at - sent[i - 1].at, std::chrono::seconds(1)) << "request " << i;
  }
  EXPECT_EQ(sent.back().status, 200);
  EXPECT_EQ(sent.back().events, std::size_t{kRecords * kRows});
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRecords * kRows});
  EXPECT_EQ(spool->metrics().records_acked, std::uint64_t{kRecords});
}

}  // namespace
}  // namespace spanline::detail

namespace spanline::detail {
namespace {

// Durable ingest writes records uncompressed while replay keeps up: one sent alone still
// goes out in the host's encoding.
TEST(ReplayCombine, AnUncompressedRecordSentAloneGoesOutCompressed) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  spool_test::TempDir dir;
  auto spool = open_spool(dir);
  ASSERT_TRUE(spool);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-plain")).index;
  append_record(*spool, p, dest, "plain-", 4, -1, Compression::none);
  Options options = replay_options(api.base_url());
  options.linger = 0ms;
  Sender sender(options, p.destinations, p.accounting, p.errors, spool.get());
  sender.start();
  ASSERT_TRUE(wait_for([&] { return p.counters.records_replay_delivered.load() == 1; }, kWait));
  sender.shutdown(std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(api.stats().encodings["zstd"], 1u);
  EXPECT_EQ(api.stats().unique_rows, 4u);
}

}  // namespace
}  // namespace spanline::detail
