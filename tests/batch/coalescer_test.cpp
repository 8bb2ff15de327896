#include "batch/coalescer.hpp"

#include "support/row_support.hpp"
#include "spool/row_keys.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <set>
#include <string>
#include <vector>

namespace spanline::detail {
namespace {

namespace json = boost::json;

// A Row as the logger would queue it.
Row make_row(std::string text, bool merge) { return row_test::row_from_text(std::move(text), merge); }

TEST(Coalescer, IdsOfEveryLengthCombineOnlyWithThemselves) {
  // Ids are hashed a word at a time: ids of every length around the word size, ids that
  // differ only in their first or last byte, and ids that are prefixes of others.
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (std::size_t length = 1; length <= 40; ++length) {
    for (std::string id :
         {std::string(length, 'a'), std::string(length - 1, 'a') + 'b', 'b' + std::string(length - 1, 'a')})
      if (seen.insert(id).second) ids.push_back(id);
  }
  PipelineCounters counters;
  Coalescer coalescer(0);
  const auto now = std::chrono::steady_clock::now();
  for (int round = 0; round < 3; ++round) {
    for (const std::string& id : ids) {
      const std::string text = R"({"id":")" + id + R"(","_is_merge":)" + (round > 0 ? "true" : "false") +
                               R"(,"n)" + std::to_string(round) + R"(":)" + std::to_string(round) + "}";
      coalescer.add(make_row(text, round > 0), now, counters);
    }
  }
  const Batch batch = coalescer.take();
  ASSERT_EQ(batch.events.size(), ids.size());
  EXPECT_EQ(counters.rows_coalesced.load(), 2 * ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const BatchEvent& event = batch.events[i];
    const json::object row = json::parse(event.json).as_object();
    EXPECT_EQ(row.at("id").as_string(), ids[i]);
    EXPECT_TRUE(row.contains("n0") && row.contains("n1") && row.contains("n2")) << event.json;
    EXPECT_EQ(event.source_rows, 3u);
    EXPECT_EQ(event.id_key, row_key(ids[i]));
  }
}

// rows_coalesced is told once per batch, when it is taken, and counts only rows that
// did combine: a merge row that cannot be read leaves as its own event, uncounted.
TEST(Coalescer, CountsCombinedRowsWhenTheBatchIsTaken) {
  PipelineCounters counters;
  Coalescer coalescer(0);
  const auto now = std::chrono::steady_clock::now();
  coalescer.add(make_row(R"({"id":"span-1","a":1,"_is_merge":false})", false), now, counters);
  coalescer.add(make_row(R"({"id":"span-1","_is_merge":true,"b":2})", true), now, counters);
  coalescer.add(make_row(R"({"id":"span-1","_is_merge":true,"c":)", true), now, counters);
  coalescer.add(make_row(R"({"id":"span-2","_is_merge":true,"d":4})", true), now, counters);
  coalescer.add(make_row(R"({"id":"span-2","_is_merge":true,"e":5})", true), now, counters);
  EXPECT_EQ(counters.rows_coalesced.load(), 0u);  // nothing told before take()

  const Batch batch = coalescer.take();
  ASSERT_EQ(batch.events.size(), 3u);
  EXPECT_EQ(batch.events[0].json, R"({"id":"span-1","a":1,"_is_merge":false,"b":2})");
  EXPECT_EQ(batch.events[0].source_rows, 2u);
  EXPECT_EQ(batch.events[1].json, R"({"id":"span-2","_is_merge":true,"d":4,"e":5})");
  EXPECT_EQ(batch.events[2].json, R"({"id":"span-1","_is_merge":true,"c":)");
  EXPECT_EQ(batch.events[2].source_rows, 1u);
  EXPECT_EQ(counters.rows_coalesced.load(), 2u);  // b into span-1, e into span-2; not c

  // The next batch starts its own count.
  coalescer.add(make_row(R"({"id":"span-3","a":1})", false), now, counters);
  coalescer.add(make_row(R"({"id":"span-3","_is_merge":true,"b":2})", true), now, counters);
  EXPECT_EQ(coalescer.take().events.size(), 1u);
  EXPECT_EQ(counters.rows_coalesced.load(), 3u);
  EXPECT_TRUE(coalescer.take().events.empty());
  EXPECT_EQ(counters.rows_coalesced.load(), 3u);
}

TEST(Coalescer, AReplaceRowWithItsIdElsewhereKeepsCollectingItsRows) {
  PipelineCounters counters;
  Coalescer coalescer(0);
  const auto now = std::chrono::steady_clock::now();
  coalescer.add(make_row(R"({"id":"span-1","a":1,"_is_merge":false})", false), now, counters);
  coalescer.add(make_row(R"({"id":"span-2","a":1})", false), now, counters);
  coalescer.add(make_row(R"({"id":"span-1","_is_merge":true,"b":2})", true), now, counters);
  // The replace row writes its id further in: later rows must still find the event.
  coalescer.add(make_row(R"({"_is_merge":false,"c":3,"id":"span-1"})", false), now, counters);
  coalescer.add(make_row(R"({"_is_merge":true,"id":"span-1","d":4})", true), now, counters);
  coalescer.add(make_row(R"({"id":"span-1","_is_merge":true,"e":5})", true), now, counters);
  const Batch batch = coalescer.take();
  ASSERT_EQ(batch.events.size(), 2u);
  EXPECT_EQ(batch.events[0].json, R"({"_is_merge":false,"c":3,"id":"span-1","d":4,"e":5})");
  EXPECT_EQ(batch.events[0].source_rows, 5u);
  EXPECT_EQ(batch.events[1].json, R"({"id":"span-2","a":1})");
  EXPECT_EQ(counters.rows_coalesced.load(), 4u);

  // The next batch starts empty: the same id is a new event there.
  coalescer.add(make_row(R"({"id":"span-1","_is_merge":true,"f":6})", true), now, counters);
  const Batch next = coalescer.take();
  ASSERT_EQ(next.events.size(), 1u);
  EXPECT_EQ(next.events[0].json, R"({"id":"span-1","_is_merge":true,"f":6})");
}

}  // namespace
}  // namespace spanline::detail
