// Rows of one log_durable call become spool records with the rows sharing an id
// combined, as the batcher combines them: the helpers on their own (every Braintrust
// merge case, replaces, order, replay keys) and sidecar::log_durable end to end against
// the fake API, which must receive a span's rows as one event.
#include "batch/durable_record.hpp"

#include "fake_api.hpp"
#include "support/merge_cases.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <spanline/sidecar/logger.hpp>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using detail::Batch;
using detail::row_key;
using detail::RowKey;
using detail::spool_test::TempDir;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace json = boost::json;

constexpr const char* kProject = "0d7f6c2e-1a4b-4c8d-9e2f-3a4b5c6d7e8f";

// A row as the sidecar's parser prepares it: the id located, the merge flag read.
PreparedRow prepared(std::string text) {
  const auto id = detail::find_row_id(text);
  EXPECT_TRUE(id.has_value()) << text;
  PreparedRow row;
  row.id_offset = static_cast<std::uint32_t>(id->data() - text.data());
  row.id_size = static_cast<std::uint32_t>(id->size());
  row.is_merge = text.find(R"("_is_merge":true)") != std::string::npos;
  row.json = std::move(text);
  return row;
}

// Polls `done` until it holds or `timeout` passes.
using test_support::wait_for;

std::vector<RowKey> keys_of(const Batch& batch) {
  std::vector<RowKey> keys;
  detail::record_keys(batch, keys);
  return keys;
}

TEST(DurableRecord, CombinesEveryMergeCaseAsTheBatcherDoes) {
  for (const auto& c : test::merge_cases()) {
    SCOPED_TRACE(c.name);
    std::vector<PreparedRow> rows;
    rows.push_back(prepared(R"({"id":"before","n":0})"));
    rows.push_back(prepared(c.earlier));
    rows.push_back(prepared(R"({"id":"between","n":1})"));
    rows.push_back(prepared(c.later));
    const Batch batch = detail::coalesce_durable_rows(3, std::move(rows));
    EXPECT_EQ(batch.destination, 3u);
    ASSERT_EQ(batch.events.size(), 3u);
    EXPECT_EQ(json::parse(batch.events[0].json).at("id"), "before");
    EXPECT_EQ(json::parse(batch.events[1].json), json::parse(c.expected))
        << "got      " << batch.events[1].json << "\nexpected " << c.expected;
    EXPECT_EQ(json::parse(batch.events[2].json).at("id"), "between");
    EXPECT_EQ(batch.events[1].source_rows, 2u);
    EXPECT_EQ(batch.source_rows(), 4u);
    EXPECT_EQ(keys_of(batch), (std::vector<RowKey>{row_key("before"), row_key("r1"), row_key("between")}));
  }
}

TEST(DurableRecord, AReplaceStaysAReplaceAndFirstRowsKeepTheirOrder) {
  std::vector<PreparedRow> rows;
  rows.push_back(prepared(R"({"id":"a","input":"q","metrics":{"start":1}})"));
  rows.push_back(prepared(R"({"id":"b","input":"old","metadata":{"k":1}})"));
  rows.push_back(prepared(R"({"id":"a","_is_merge":true,"output":"o","metrics":{"end":2}})"));
  rows.push_back(prepared(R"({"id":"b","output":"new"})"));  // a replace: b's earlier row is gone
  rows.push_back(prepared(R"({"id":"c","_is_merge":true,"scores":{"s":1}})"));
  rows.push_back(prepared(R"({"id":"b","_is_merge":true,"tags":["t"]})"));  // merges into the replace
  const Batch batch = detail::coalesce_durable_rows(0, std::move(rows));
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(json::parse(batch.events[0].json),
            json::parse(R"({"id":"a","input":"q","metrics":{"start":1,"end":2},"output":"o"})"));
  EXPECT_EQ(json::parse(batch.events[1].json), json::parse(R"({"id":"b","output":"new","tags":["t"]})"));
  // A merge row with nothing before it in the record stays a merge: the server applies it
  // to what it already holds.
  EXPECT_EQ(json::parse(batch.events[2].json),
            json::parse(R"({"id":"c","_is_merge":true,"scores":{"s":1}})"));
  EXPECT_EQ(batch.events[0].source_rows, 2u);
  EXPECT_EQ(batch.events[1].source_rows, 3u);
  EXPECT_EQ(batch.events[2].source_rows, 1u);
  EXPECT_EQ(keys_of(batch), (std::vector<RowKey>{row_key("a"), row_key("b"), row_key("c")}));
}

TEST(DurableRecord, RowsThatCannotCombineStayInOrderAndKeepTheirKey) {
  // The later row is not valid JSON, so it cannot be folded in: it must still follow the
  // row before it, and the record's keys must still name its id.
  std::vector<PreparedRow> rows;
  rows.push_back(prepared(R"({"id":"x","input":"i"})"));
  rows.push_back(prepared(R"({"id":"x","_is_merge":true,"output":})"));
  const Batch batch = detail::coalesce_durable_rows(0, std::move(rows));
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].json, R"({"id":"x","input":"i"})");
  EXPECT_EQ(batch.events[1].json, R"({"id":"x","_is_merge":true,"output":})");
  EXPECT_EQ(batch.source_rows(), 2u);
  for (const RowKey key : keys_of(batch)) EXPECT_EQ(key, row_key("x"));
}

TEST(DurableRecord, LogDurableDeliversASpansRowsAsOneEvent) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});  // full store: rows can be read back
  Options options{.api_key = "test-key",
                  .api_url = api.base_url(),
                  .linger = 5ms,
                  .retry_base_delay = 10ms,
                  .retry_max_delay = 200ms};
  options.spool_dir = dir.path().string();
  options.spool_fsync_interval = 20ms;
  Logger logger(options);
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  // Two spans, their start, log and end rows interleaved as concurrent spans write them.
  std::vector<PreparedRow> rows;
  for (const char* id : {"span-1", "span-2"}) {
    rows.push_back(prepared(std::string(R"({"id":")") + id +
                            R"(","span_id":"s","input":"question","metrics":{"start":10}})"));
  }
  for (const char* id : {"span-1", "span-2"}) {
    rows.push_back(prepared(std::string(R"({"id":")") + id + R"(","_is_merge":true,"output":"answer"})"));
    rows.push_back(prepared(std::string(R"({"id":")") + id + R"(","_is_merge":true,"metrics":{"end":12}})"));
  }
  ASSERT_EQ(sidecar::log_durable(logger, to, std::move(rows), 5s), DurableResult::durable);
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.rows_replayed_delivered == 6; }, 10s))
      << logger.stats().spool.rows_replayed_delivered;

  const auto received = api.stats();
  EXPECT_EQ(received.rows_received, 2u) << "a span's rows must arrive as one event";
  EXPECT_EQ(received.duplicate_rows, 0u);
  for (const char* id : {"span-1", "span-2"}) {
    SCOPED_TRACE(id);
    const auto row = api.row("project_logs", kProject, id);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->at("input"), "question");
    EXPECT_EQ(row->at("output"), "answer");
    EXPECT_EQ(row->at("metrics"), json::parse(R"({"start":10,"end":12})"));
  }
  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_coalesced, 4u);
  EXPECT_EQ(stats.spool.rows_spilled, 6u);  // rows as logged, whatever they became
  (void)logger.shutdown(1s);
}

}  // namespace
}  // namespace spanline
