// Rows of one id stay in logged order when some of them went through the spool: the
// replay order's bookkeeping (ids, record dependencies, the bound, an earlier run's
// backlog), and end to end against the fake API in full store mode (merge semantics):
// a merge row logged while its full row waits in the spool must not be replaced by it.
// Also: a 413 to a replayed record splits it, and log_durable rows count as accepted.
#include <spanline/logger.hpp>
#include <spanline/sidecar/logger.hpp>

#include "fake_api.hpp"
#include "spool/replay_order.hpp"
#include "spool/row_keys.hpp"
#include "spool/segment_format.hpp"
#include "spool/spool.hpp"
#include "support/spool_support.hpp"
#include "support/wait_support.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace spanline {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using detail::RecordId;
using detail::ReplayOrder;
using detail::RowKey;
using detail::spool_test::TempDir;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;

constexpr const char* kProject = "7c0f6a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
constexpr const char* kOtherProject = "8d1a7b3f-2c4e-4f60-9b0c-1d2e3f4a5b6c";

// ---- row keys ------------------------------------------------------------------------

TEST(SpoolRowKeys, FindsTheTopLevelIdWhereverItIs) {
  using detail::find_row_id;
  EXPECT_EQ(find_row_id(R"({"id":"a-1","input":"x"})"), "a-1");
  EXPECT_EQ(find_row_id(R"( { "input" : {"id":"inner","n":[1,{"id":"deeper"}]}, "s":"q\"id\":\"no\"",)"
                        R"( "n":-1.5e3, "b":true, "z":null, "id" : "outer\"x" } )"),
            R"(outer\"x)");
  EXPECT_EQ(find_row_id(R"({"input":"x"})"), std::nullopt);
  EXPECT_EQ(find_row_id(R"({"id":42})"), std::nullopt);
  EXPECT_EQ(find_row_id(R"(["id","x"])"), std::nullopt);
  EXPECT_EQ(find_row_id(R"({"input":"unterminated)"), std::nullopt);
  EXPECT_EQ(find_row_id(""), std::nullopt);
  EXPECT_EQ(detail::row_key("a-1"), detail::row_key("a-1"));
  EXPECT_NE(detail::row_key("a-1"), detail::row_key("a-2"));
}

TEST(SpoolRowKeys, SplitsABodyIntoItsEventsWithoutTouchingThem) {
  std::vector<std::string_view> events;
  ASSERT_TRUE(detail::split_events(R"({"events":[{"id":"a","v":[1,2]},{"id":"b","s":"],}"} ,{"id":"c","x":1.50}]})",
                                   events));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], R"({"id":"a","v":[1,2]})");
  EXPECT_EQ(events[1], R"({"id":"b","s":"],}"})");
  EXPECT_EQ(events[2], R"({"id":"c","x":1.50})");
  EXPECT_TRUE(detail::split_events(R"({"events":[]})", events));
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(detail::split_events(R"({"rows":[{"id":"a"}]})", events));
  EXPECT_FALSE(detail::split_events(R"({"events":[{"id":"a"})", events));
  EXPECT_FALSE(detail::split_events("not json", events));
}

// ---- replay order ----------------------------------------------------------------------

std::vector<RowKey> keys_of(std::initializer_list<const char*> ids) {
  std::vector<RowKey> keys;
  for (const char* id : ids) keys.push_back(detail::row_key(id));
  return keys;
}

std::vector<char> follow(const ReplayOrder& order, std::uint32_t destination,
                         std::initializer_list<const char*> ids) {
  std::vector<char> out;
  const auto keys = keys_of(ids);
  order.must_follow(destination, keys, out);
  return out;
}

TEST(SpoolReplayOrder, LiveRowsFollowUnsettledIdsOfTheirDestinationOnly) {
  ReplayOrder order(1000);
  EXPECT_EQ(order.route(1), ReplayOrder::Route::live);
  const RecordId r1{1, 16};
  order.add(r1, 1, keys_of({"a", "b"}));
  EXPECT_EQ(order.route(1), ReplayOrder::Route::check_rows);
  EXPECT_EQ(order.route(2), ReplayOrder::Route::live) << "another destination is not held back";
  EXPECT_EQ(follow(order, 1, {"a", "x", "b"}), (std::vector<char>{1, 0, 1}));
  EXPECT_EQ(follow(order, 2, {"a"}), (std::vector<char>{0})) << "the same id elsewhere is another row";
  EXPECT_FALSE(order.blocked(r1));
  order.settled(r1);
  EXPECT_EQ(order.route(1), ReplayOrder::Route::live);
  EXPECT_EQ(order.tracked_keys(), 0u);
  EXPECT_EQ(order.tracked_records(), 0u);
}

TEST(SpoolReplayOrder, ARecordWaitsForOlderRecordsThatShareItsIds) {
  ReplayOrder order(1000);
  const RecordId r1{1, 16}, r2{1, 500}, r3{2, 16}, r4{2, 900};
  order.add(r1, 1, keys_of({"a", "b"}));
  order.add(r2, 1, keys_of({"c"}));
  order.add(r3, 1, keys_of({"b", "c", "b"}));  // the same id twice in one record is fine
  order.add(r4, 1, keys_of({"d"}));
  EXPECT_FALSE(order.blocked(r1));
  EXPECT_FALSE(order.blocked(r2));
  EXPECT_TRUE(order.blocked(r3));
  EXPECT_FALSE(order.blocked(r4)) << "shares nothing: replays concurrently";
  order.settled(r1);
  EXPECT_TRUE(order.blocked(r3)) << "still waits for r2 (id c)";
  order.settled(r2);
  EXPECT_FALSE(order.blocked(r3));
  EXPECT_EQ(follow(order, 1, {"a", "b", "c", "d"}), (std::vector<char>{0, 1, 1, 1}));
  EXPECT_FALSE(order.blocked(RecordId{9, 16})) << "records never registered are never held";
}

TEST(SpoolReplayOrder, DamagedRegionsAndUnreadableSegmentsSettleTheirRecords) {
  ReplayOrder order(1000);
  order.add(RecordId{1, 16}, 1, keys_of({"a"}));
  order.add(RecordId{1, 200}, 1, keys_of({"b"}));
  order.add(RecordId{1, 400}, 1, keys_of({"a"}));
  order.add(RecordId{2, 16}, 1, keys_of({"c"}));
  order.settled_range(1, 100, 400);  // only the record at 200
  EXPECT_EQ(follow(order, 1, {"a", "b", "c"}), (std::vector<char>{1, 0, 1}));
  EXPECT_TRUE(order.blocked(RecordId{1, 400}));
  order.settled_range(1, 0, UINT64_MAX);
  EXPECT_EQ(follow(order, 1, {"a", "b", "c"}), (std::vector<char>{0, 0, 1}));
  EXPECT_EQ(order.tracked_records(), 1u);
}

TEST(SpoolReplayOrder, PastTheBoundADestinationGoesThroughTheSpoolInOrder) {
  ReplayOrder order(4);
  const RecordId r1{1, 16}, r2{1, 100}, r3{1, 200}, r4{1, 300};
  order.add(r1, 1, keys_of({"a", "b", "c"}));
  order.add(r2, 2, keys_of({"z"}));
  order.add(r3, 1, keys_of({"d", "e"}));  // 6 > 4: destination 1 is no longer tracked
  order.add(r4, 1, keys_of({"f"}));
  EXPECT_EQ(order.route(1), ReplayOrder::Route::spool);
  EXPECT_EQ(follow(order, 1, {"unrelated"}), (std::vector<char>{1}));
  EXPECT_EQ(order.route(2), ReplayOrder::Route::check_rows) << "other destinations keep their tracking";
  EXPECT_TRUE(order.blocked(r3)) << "the first untracked record follows every record of its destination";
  EXPECT_TRUE(order.blocked(r4)) << "later ones follow the one before";
  EXPECT_FALSE(order.blocked(r2));
  order.settled(r1);
  EXPECT_FALSE(order.blocked(r3));
  EXPECT_TRUE(order.blocked(r4));
  order.settled(r3);
  EXPECT_FALSE(order.blocked(r4));
  order.settled(r4);
  EXPECT_EQ(order.route(1), ReplayOrder::Route::live) << "tracking resumes once the backlog is gone";
}

TEST(SpoolReplayOrder, AnEarlierRunsBacklogHoldsEverythingBackUntilSettled) {
  TempDir dir;
  detail::SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  {
    auto spool = detail::spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    detail::spool_test::append_records(*spool, 0, 3);
  }
  auto spool = detail::spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  ReplayOrder& order = spool->order();
  EXPECT_EQ(order.route(1), ReplayOrder::Route::spool);
  const std::string body = R"({"events":[{"id":"new"}]})";
  const auto keys = keys_of({"new"});
  const auto appended = spool->append(detail::SpoolEntry{.destination_key = "project_logs:x",
                                                         .encoding = Compression::none,
                                                         .source_rows = 1,
                                                         .raw_bytes = static_cast<std::uint32_t>(body.size()),
                                                         .payload = body,
                                                         .rows = detail::RecordRows{.destination = 1, .keys = keys}});
  ASSERT_TRUE(appended.ok());
  EXPECT_TRUE(order.blocked(appended.id)) << "new records wait for the earlier run's";
  std::vector<detail::SpoolRecord> old;
  for (int i = 0; i < 3; ++i) {
    auto record = spool->next_record();
    ASSERT_TRUE(record);
    EXPECT_FALSE(order.blocked(record->id));
    old.push_back(std::move(*record));
  }
  spool->ack(old[0].id);
  spool->ack_rejected(old[1].id);
  EXPECT_TRUE(order.blocked(appended.id));
  spool->ack(old[2].id);
  // The old segment is read to its end once replay moves on to the new one.
  auto mine = spool->next_record();
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->id, appended.id);
  EXPECT_FALSE(order.blocked(appended.id));
  EXPECT_EQ(order.route(1), ReplayOrder::Route::check_rows);
  spool->ack(mine->id);
  EXPECT_EQ(order.route(1), ReplayOrder::Route::live);
}

// ---- end to end ------------------------------------------------------------------------

FaultConfig down() { return FaultConfig{.outage_start_s = 0, .outage_duration_s = 3600}; }

// Replay of a record that failed while the API was down waits up to 2 s (full jitter),
// long enough for a live row logged after the recovery to get there first.
Options order_options(const FakeApi& api, const std::filesystem::path& dir) {
  Options o{.api_key = "test-key", .api_url = api.base_url(), .linger = 5ms, .retry_base_delay = 1s,
            .retry_max_delay = 2s};
  o.spool_dir = dir.string();
  o.spool_fsync_interval = 20ms;
  o.spool_outage_after = 60s;  // no outage spilling: live batches keep going upstream
  return o;
}

using test_support::wait_for;

// True when some record in the spool directory holds a row with this id.
bool spool_holds_row(const std::filesystem::path& dir, const std::string& id) {
  return detail::spool_test::spool_holds_text(dir, R"("id":")" + id + '"');
}

// Everything accepted is settled and everything in the spool acknowledged.
void drain(Logger& logger) {
  const FlushResult flushed = logger.flush(10s);
  ASSERT_TRUE(flushed.complete) << "pending " << flushed.pending;
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.replay_lag_bytes == 0; }, 15s))
      << "replay lag " << logger.stats().spool.replay_lag_bytes;
}

// The stored row has the full row's and the merge row's fields.
void expect_merged(const FakeApi& api, const std::string& id, const char* full_field, const char* merged_field) {
  const auto row = api.row("project_logs", kProject, id);
  ASSERT_TRUE(row.has_value()) << id;
  EXPECT_TRUE(row->contains(full_field)) << boost::json::serialize(*row);
  EXPECT_TRUE(row->contains(merged_field)) << "the merge was lost: " << boost::json::serialize(*row);
}

bool saw_503(const Logger& logger) {
  const Stats stats = logger.stats();
  const auto it = stats.requests_by_status.find(503);
  return it != stats.requests_by_status.end() && it->second >= 2;
}

TEST(SpoolOrderE2E, SpanRowsLoggedAfterItsStartWasSpilledForRoomMergeIntoIt) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = down()});
  Options options = order_options(api, dir.path());
  options.overflow = OverflowPolicy::spill;
  options.max_queue_bytes = 64 << 10;
  options.block_timeout = 2s;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  const DestinationHandle other = logger.destination(Destination::project(kOtherProject));

  Span span = logger.start_span(to, {.name = "chat", .type = "llm"}, Fields{}.string("input", "the question"));
  const std::string id(span.id());
  // Other traffic fills the budget while the API is down, until the batch holding the
  // span's start row has been moved to the spool to make room.
  int filler = 0;
  ASSERT_TRUE(wait_for(
      [&] {
        (void)logger.log(other, Fields{}.string("input", std::string(6000, 'f')), "filler-" + std::to_string(filler++));
        return spool_holds_row(dir.path(), id);
      },
      15s));
  ASSERT_TRUE(wait_for([&] { return saw_503(logger); }, 5s));

  api.set_faults({});
  EXPECT_EQ(span.log(Fields{}.string("output", "the answer")), LogResult::queued);
  EXPECT_EQ(span.end(), LogResult::queued);
  drain(logger);
  expect_merged(api, id, "input", "output");
  const auto row = api.row("project_logs", kProject, id);
  ASSERT_TRUE(row.has_value());
  const auto* metrics = row->if_contains("metrics");
  ASSERT_TRUE(metrics != nullptr && metrics->is_object());
  EXPECT_TRUE(metrics->as_object().contains("start"));
  EXPECT_TRUE(metrics->as_object().contains("end"));
  EXPECT_EQ(logger.stats().rows_dropped_total(), 0u);
}

TEST(SpoolOrderE2E, MergeLoggedAfterLogDurableFollowsTheDurableRow) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = down()});
  Logger logger(order_options(api, dir.path()));
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  const std::string id = "durable-span";
  std::vector<PreparedRow> rows{PreparedRow{.json = R"({"id":")" + id + R"(","input":"durable question"})",
                                            .id_offset = 7,
                                            .id_size = static_cast<std::uint32_t>(id.size())}};
  ASSERT_EQ(sidecar::log_durable(logger, to, rows, 5s), DurableResult::durable);
  ASSERT_TRUE(wait_for([&] { return saw_503(logger); }, 5s)) << "replay tried while the API was down";

  api.set_faults({});
  EXPECT_EQ(logger.log_merge(to, id, Fields{}.string("output", "live answer")), LogResult::queued);
  drain(logger);
  expect_merged(api, id, "input", "output");
}

TEST(SpoolOrderE2E, AfterARestartLiveRowsFollowWhatTheEarlierRunLeftInTheSpool) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = down()});
  {
    Logger first(order_options(api, dir.path()));
    first.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = first.destination(Destination::project(kProject));
    ASSERT_EQ(first.log(to, Fields{}.string("input", "asked before the restart"), "restart-span"), LogResult::queued);
    const FlushResult result = first.shutdown(500ms);
    ASSERT_EQ(result.spooled, 1u);
  }
  Logger logger(order_options(api, dir.path()));
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  ASSERT_TRUE(wait_for([&] { return saw_503(logger); }, 5s)) << "replay tried while the API was down";

  api.set_faults({});
  EXPECT_EQ(logger.log_merge(to, "restart-span", Fields{}.string("output", "answered after it")), LogResult::queued);
  drain(logger);
  expect_merged(api, "restart-span", "input", "output");
}

TEST(SpoolOrderE2E, SpansWhoseStartAndEndWereBothSpooledArriveMerged) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key", .faults = down(), .threads = 4});
  Options options = order_options(api, dir.path());
  options.spool_outage_after = 100ms;
  options.retry_base_delay = 20ms;
  options.retry_max_delay = 200ms;
  options.initial_in_flight = 8;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  constexpr int kSpans = 40;
  std::vector<Span> spans;
  for (int i = 0; i < kSpans; ++i) {
    spans.push_back(logger.start_span(to, {.name = "step"}, Fields{}.string("input", "q" + std::to_string(i))));
  }
  // Start and end rows in separate records: the spans end once the starts are on disk.
  ASSERT_TRUE(wait_for([&] { return spool_holds_row(dir.path(), std::string(spans.back().id())); }, 10s));
  for (auto& span : spans) {
    (void)span.log(Fields{}.string("output", "a"));
    (void)span.end();
  }
  ASSERT_TRUE(logger.flush(10s).complete);
  api.set_faults({});
  drain(logger);
  for (const auto& span : spans) expect_merged(api, std::string(span.id()), "input", "output");
}

// Rows written to the spool while the API took large bodies, replayed to one that takes
// only small ones and answers 413.
TEST(SpoolOrderE2E, A413ToAReplayedRecordSplitsItUntilEveryRowArrives) {
  TempDir dir;
  constexpr int kRows = 300;
  {
    FakeApi before(ServerConfig{.api_key = "test-key", .faults = down()});
    Options options = order_options(before, dir.path());
    options.batch_max_rows = kRows;
    options.linger = 200ms;
    Logger first(options);
    first.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = first.destination(Destination::project(kProject));
    for (int i = 0; i < kRows; ++i) {
      ASSERT_EQ(first.log(to, Fields{}.string("input", std::string(500, static_cast<char>('a' + i % 26))), "big-" + std::to_string(i)),
                LogResult::queued);
    }
    ASSERT_EQ(first.shutdown(1s).spooled, std::uint64_t{kRows});
  }
  FakeApi api(ServerConfig{.api_key = "test-key", .max_payload_bytes = 24 << 10});
  Options options = order_options(api, dir.path());
  options.max_payload_bytes = 6 << 20;  // not what the API says: its 413 is the only hint
  options.retry_base_delay = 10ms;
  options.retry_max_delay = 100ms;
  Logger logger(options);
  logger.set_error_handler([](const ErrorReport&) {});
  ASSERT_TRUE(wait_for([&] { return api.stats().unique_rows >= kRows; }, 15s)) << api.stats_json();
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.replay_lag_bytes == 0; }, 5s));
  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_rejected, 0u);
  EXPECT_EQ(stats.spool.rows_replayed_delivered, std::uint64_t{kRows});
  EXPECT_GE(stats.requests_by_status.count(413), 1u) << "the API must have refused the whole record";
  EXPECT_EQ(api.row_count("project_logs", kProject), std::size_t{kRows});
}

TEST(SpoolOrderE2E, ARecordOverTheAnnouncedLimitIsSentInPartsWithout413) {
  TempDir dir;
  constexpr int kRows = 200;
  {
    FakeApi before(ServerConfig{.api_key = "test-key", .faults = down()});
    Options options = order_options(before, dir.path());
    options.batch_max_rows = kRows;
    options.linger = 200ms;
    Logger first(options);
    first.set_error_handler([](const ErrorReport&) {});
    const DestinationHandle to = first.destination(Destination::project(kProject));
    for (int i = 0; i < kRows; ++i) {
      ASSERT_EQ(first.log(to, Fields{}.string("input", std::string(500, static_cast<char>('a' + i % 26))), "part-" + std::to_string(i)),
                LogResult::queued);
    }
    ASSERT_EQ(first.shutdown(1s).spooled, std::uint64_t{kRows});
  }
  FakeApi api(ServerConfig{.api_key = "test-key", .max_payload_bytes = 24 << 10});
  Options options = order_options(api, dir.path());
  options.retry_base_delay = 10ms;
  options.retry_max_delay = 100ms;
  Logger logger(options);  // learns 24 KiB from GET /version
  logger.set_error_handler([](const ErrorReport&) {});
  ASSERT_TRUE(wait_for([&] { return api.stats().unique_rows >= kRows; }, 15s)) << api.stats_json();
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.replay_lag_bytes == 0; }, 5s));
  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_rejected, 0u);
  EXPECT_EQ(stats.spool.rows_replayed_delivered, std::uint64_t{kRows});
  EXPECT_EQ(api.stats().requests.count(413), 0u) << api.stats_json();
}

TEST(SpoolOrderE2E, LogDurableRowsCountAsAcceptedAndSettled) {
  TempDir dir;
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Logger logger(order_options(api, dir.path()));
  const DestinationHandle to = logger.destination(Destination::project(kProject));
  std::vector<PreparedRow> rows;
  for (int i = 0; i < 250; ++i) {
    const std::string id = "counted-" + std::to_string(i);
    rows.push_back(PreparedRow{.json = R"({"id":")" + id + R"(","input":"x"})",
                               .id_offset = 7,
                               .id_size = static_cast<std::uint32_t>(id.size())});
  }
  ASSERT_EQ(sidecar::log_durable(logger, to, rows, 5s), DurableResult::durable);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(logger.log(to, Fields{}.string("input", "y"), "live-" + std::to_string(i)), LogResult::queued);
  const auto started = Clock::now();
  const FlushResult flushed = logger.flush(10s);
  EXPECT_TRUE(flushed.complete);
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_EQ(flushed.pending, 0u);
  EXPECT_GE(flushed.spooled, 250u);
  ASSERT_TRUE(wait_for([&] { return logger.stats().spool.rows_replayed_delivered == 250; }, 10s));
  const Stats stats = logger.stats();
  EXPECT_EQ(stats.rows_in, 300u);
  EXPECT_EQ(stats.rows_delivered, 300u);
  EXPECT_EQ(stats.pending_rows, 0u);
  EXPECT_EQ(api.stats().unique_rows, 300u);
}

}  // namespace
}  // namespace spanline
