// Records an earlier run left in the spool are ordered among themselves after a restart:
// replay reads their row ids from their bodies, so a record holding a span's end row
// (a merge) is not replayed before the older record holding its full row.
#include "spool/spool.hpp"

#include "codec/codec.hpp"
#include "spool/replay_order.hpp"
#include "support/spool_support.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using spool_test::TempDir;

constexpr const char* kKey = "project_logs:00000000-0000-4000-8000-000000000001";
constexpr const char* kOtherKey = "project_logs:00000000-0000-4000-8000-000000000002";

// One record as an earlier run leaves it: encoded, without SpoolEntry::rows.
AppendResult append_body(Spool& spool, std::string_view key, const std::string& body, Compression encoding) {
  const std::string payload = encoding == Compression::none ? body : compress(encoding, body);
  return spool.append(SpoolEntry{.destination_key = key,
                                 .encoding = encoding,
                                 .source_rows = 1,
                                 .raw_bytes = static_cast<std::uint32_t>(body.size()),
                                 .payload = payload});
}

// Every record of the reopened spool, by id, as next_record() hands them out.
std::vector<SpoolRecord> read_all(Spool& spool) {
  std::vector<SpoolRecord> out;
  while (auto record = spool.next_record()) out.push_back(std::move(*record));
  return out;
}

TEST(SpoolLegacyOrder, AMergeRecordWaitsForTheEarlierRunsFullRowOfItsId) {
  TempDir dir;
  const SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  RecordId r1, r2, r3;
  {
    auto spool = spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    const auto a1 = append_body(*spool, kKey,
                                R"({"events":[{"id":"X","_is_merge":false,"span_attributes":{"name":"s"}}]})",
                                Compression::zstd);
    const auto a2 = append_body(
        *spool, kKey, R"({"events":[{"id":"X","_is_merge":true,"metrics":{"end":2}}]})", Compression::gzip);
    const auto a3 =
        append_body(*spool, kKey, R"({"events":[{"id":"Y","_is_merge":false}]})", Compression::none);
    ASSERT_TRUE(a1.ok() && a2.ok() && a3.ok());
    r1 = a1.id;
    r2 = a2.id;
    r3 = a3.id;
    spool->close();
  }
  auto spool = spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  const ReplayOrder& order = spool->order();
  const auto records = read_all(*spool);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].id, r1);
  EXPECT_EQ(records[1].id, r2);
  EXPECT_EQ(records[2].id, r3);
  EXPECT_FALSE(order.blocked(r1));
  EXPECT_TRUE(order.blocked(r2)) << "its merge row must not reach the server before R1's full row";
  EXPECT_FALSE(order.blocked(r3)) << "shares no id: replays concurrently";

  spool->ack(r3);
  EXPECT_TRUE(order.blocked(r2));
  spool->ack(r1);
  EXPECT_FALSE(order.blocked(r2));
  spool->ack(r2);
  EXPECT_EQ(order.tracked_records(), 0u);
  EXPECT_EQ(order.route(0), ReplayOrder::Route::live) << "the earlier run's backlog is settled";
}

TEST(SpoolLegacyOrder, ARedeliveredRecordKeepsItsPlace) {
  TempDir dir;
  const SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  {
    auto spool = spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"X"}]})", Compression::none).ok());
    ASSERT_TRUE(
        append_body(*spool, kKey, R"({"events":[{"id":"X","_is_merge":true}]})", Compression::none).ok());
  }
  auto spool = spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto records = read_all(*spool);
  ASSERT_EQ(records.size(), 2u);
  spool->redeliver(records[0].id);
  auto again = spool->next_record();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, records[0].id);
  EXPECT_FALSE(spool->order().blocked(records[0].id))
      << "read again, not registered again behind the newer one";
  EXPECT_TRUE(spool->order().blocked(records[1].id));
  spool->ack(records[0].id);
  EXPECT_FALSE(spool->order().blocked(records[1].id));
}

TEST(SpoolLegacyOrder, SameIdsInOtherDestinationsDoNotWait) {
  TempDir dir;
  const SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  {
    auto spool = spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"X"}]})", Compression::zstd).ok());
    ASSERT_TRUE(
        append_body(*spool, kOtherKey, R"({"events":[{"id":"X","_is_merge":true}]})", Compression::zstd)
            .ok());
  }
  auto spool = spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto records = read_all(*spool);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_FALSE(spool->order().blocked(records[0].id));
  EXPECT_FALSE(spool->order().blocked(records[1].id));
}

TEST(SpoolLegacyOrder, AnUnreadableBodyHoldsBackTheLaterRecordsOfItsDestination) {
  TempDir dir;
  const SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  {
    auto spool = spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    const std::string garbage = spool_test::make_payload(7, 200);  // not zstd
    ASSERT_TRUE(spool
                    ->append(SpoolEntry{.destination_key = kKey,
                                        .encoding = Compression::zstd,
                                        .source_rows = 1,
                                        .raw_bytes = 800,
                                        .payload = garbage})
                    .ok());
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"Z"}]})", Compression::none).ok());
    ASSERT_TRUE(append_body(*spool, kOtherKey, R"({"events":[{"id":"Z"}]})", Compression::none).ok());
  }
  auto spool = spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto records = read_all(*spool);
  ASSERT_EQ(records.size(), 3u);
  const ReplayOrder& order = spool->order();
  EXPECT_FALSE(order.blocked(records[0].id));
  EXPECT_TRUE(order.blocked(records[1].id)) << "its ids are unknown: it might hold Z's full row";
  EXPECT_FALSE(order.blocked(records[2].id)) << "other destinations are not affected";
  spool->ack_rejected(records[0].id);
  EXPECT_FALSE(order.blocked(records[1].id));
}

TEST(SpoolLegacyOrder, PastTheBoundTheEarlierRunsRecordsReplayOneAfterTheOther) {
  TempDir dir;
  SpoolOptions options{.directory = dir.path(), .fsync_interval = 1ms};
  {
    auto spool = spool_test::open_or_fail(options);
    ASSERT_TRUE(spool);
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"a"},{"id":"b"}]})", Compression::none).ok());
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"c"},{"id":"d"}]})", Compression::none).ok());
    ASSERT_TRUE(append_body(*spool, kKey, R"({"events":[{"id":"e"}]})", Compression::none).ok());
  }
  options.order_max_rows = 3;
  auto spool = spool_test::open_or_fail(options);
  ASSERT_TRUE(spool);
  const auto records = read_all(*spool);
  ASSERT_EQ(records.size(), 3u);
  const ReplayOrder& order = spool->order();
  EXPECT_LE(order.tracked_keys(), 3u);
  EXPECT_FALSE(order.blocked(records[0].id));
  EXPECT_TRUE(order.blocked(records[1].id)) << "over the bound: follows every record of its destination";
  EXPECT_TRUE(order.blocked(records[2].id)) << "and the next follows it";
  spool->ack(records[0].id);
  EXPECT_FALSE(order.blocked(records[1].id));
  EXPECT_TRUE(order.blocked(records[2].id));
  spool->ack(records[1].id);
  EXPECT_FALSE(order.blocked(records[2].id));
}

}  // namespace
}  // namespace spanline::detail
