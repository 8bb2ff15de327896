#include "store.hpp"

#include "faults.hpp"
#include "support/merge_cases.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
using spanline::fakeapi::FaultConfig;
using spanline::fakeapi::StoreMode;
using namespace spanline::fakeapi::detail;

json::array events(std::string_view text) { return json::parse(text).as_array(); }

TEST(FakeStoreHashSet, CountsDistinctKeysAcrossGrowth) {
  HashSet set;
  for (std::uint64_t i = 1; i <= 100'000; ++i) ASSERT_TRUE(set.insert(i * 0x9e3779b97f4a7c15ULL));
  for (std::uint64_t i = 1; i <= 100'000; i += 7) EXPECT_FALSE(set.insert(i * 0x9e3779b97f4a7c15ULL));
  EXPECT_EQ(set.size(), 100'000u);
  EXPECT_TRUE(set.insert(0));  // 0 is stored as 1
  EXPECT_FALSE(set.insert(1));
  set.clear();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_TRUE(set.insert(5));
}

TEST(FakeStoreHashSet, InsertAllCountsNewKeysOnceAcrossGrowth) {
  HashSet set;
  std::vector<std::uint64_t> keys;
  for (std::uint64_t i = 1; i <= 5000; ++i) keys.push_back(i * 0x9e3779b97f4a7c15ULL);
  keys.push_back(keys[10]);  // a repeat within the batch counts once
  keys.push_back(0);         // stored as 1, like insert()
  EXPECT_EQ(set.insert_all(keys), 5001u);
  EXPECT_EQ(set.size(), 5001u);
  EXPECT_FALSE(set.insert(1));
  EXPECT_FALSE(set.insert(keys[4999]));
  // A second batch, half old and half new, grows the table again.
  std::vector<std::uint64_t> more(keys.begin() + 2500, keys.begin() + 5000);
  for (std::uint64_t i = 5001; i <= 7500; ++i) more.push_back(i * 0x9e3779b97f4a7c15ULL);
  EXPECT_EQ(set.insert_all(more), 2500u);
  EXPECT_EQ(set.size(), 7501u);
  EXPECT_EQ(set.insert_all({}), 0u);
}

TEST(FakeStoreHash, DistinguishesKindObjectAndRow) {
  std::set<std::uint64_t> hashes = {
      row_key_hash("project_logs", "a", "b"), row_key_hash("experiment", "a", "b"),
      row_key_hash("project_logs", "ab", ""), row_key_hash("project_logs", "", "ab"),
      row_key_hash("project_logs", "a", "c")};
  EXPECT_EQ(hashes.size(), 5u);
  EXPECT_EQ(row_key_hash("dataset", "x", "y"), row_key_hash("dataset", "x", "y"));
  // The batch hasher gives the same keys, so both paths count the same rows.
  const RowKeyHasher hasher("project_logs", "a");
  EXPECT_EQ(hasher("b"), row_key_hash("project_logs", "a", "b"));
  EXPECT_EQ(hasher(""), row_key_hash("project_logs", "a", ""));
  EXPECT_NE(hasher("b"), RowKeyHasher("project_logs", "ab")(""));
}

TEST(FakeStoreUuid, IsVersion4AndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = make_uuid_v4();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[8], '-');
    EXPECT_EQ(id[14], '4');
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(FakeStoreRows, AppliesInsertSemanticsAndCounts) {
  RowStore store(StoreMode::full);
  auto batch = events(R"([{"id":"a","x":{"p":1},"_is_merge":false},
                          {"id":"a","x":{"q":2},"_is_merge":true,"_merge_paths":[]},
                          {"id":"b","y":1},
                          {"id":"b","_object_delete":true}])");
  const InsertCounts counts = store.apply("project_logs", "p", batch);
  EXPECT_EQ(counts.rows, 4u);
  EXPECT_EQ(counts.unique, 2u);
  EXPECT_EQ(counts.duplicates, 2u);
  EXPECT_EQ(store.row_count("project_logs", "p"), 1u);
  EXPECT_FALSE(store.row("project_logs", "p", "b").has_value());
  const auto a = store.row("project_logs", "p", "a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(json::serialize(*a), R"({"id":"a","x":{"p":1,"q":2}})");

  // Objects are separate per kind and id.
  EXPECT_FALSE(store.row("experiment", "p", "a").has_value());
  EXPECT_EQ(store.row_count("project_logs", "q"), 0u);

  store.clear();
  EXPECT_EQ(store.row_count("project_logs", "p"), 0u);
  auto again = events(R"([{"id":"a"}])");
  EXPECT_EQ(store.apply("project_logs", "p", again).unique, 1u);
}

// The fake API merges with code of its own (row_merge.cpp), not the library's: it is the
// oracle end-to-end tests check the library against. It must still agree with Braintrust
// on every case of the shared table, applied one insert at a time as the API receives them.
TEST(FakeStoreRows, AppliesEveryMergeCaseOfTheSharedTable) {
  ASSERT_GE(spanline::test::merge_cases().size(), 20u);
  for (const auto& c : spanline::test::merge_cases()) {
    RowStore store(StoreMode::full);
    auto first = events("[" + c.earlier + "]");
    auto second = events("[" + c.later + "]");
    store.apply("project_logs", "p", first);
    store.apply("project_logs", "p", second);
    json::object expected = json::parse(c.expected).as_object();
    strip_control_fields(expected);
    const auto id = expected.at("id").as_string();
    const auto stored = store.row("project_logs", "p", std::string_view(id.data(), id.size()));
    if (expected.size() == 1 && json::parse(c.later).as_object().contains("_object_delete")) {
      EXPECT_FALSE(stored.has_value()) << c.name;
      continue;
    }
    ASSERT_TRUE(stored.has_value()) << c.name;
    EXPECT_EQ(json::value(*stored), json::value(expected)) << c.name << ": " << json::serialize(*stored);
  }
}

TEST(FakeStoreRows, IdsModeKeepsNoRows) {
  RowStore store(StoreMode::ids);
  const std::vector<std::string_view> ids = {"a", "b", "a"};
  const InsertCounts counts = store.count_ids("dataset", "d", ids);
  EXPECT_EQ(counts.rows, 3u);
  EXPECT_EQ(counts.unique, 2u);
  EXPECT_EQ(counts.duplicates, 1u);
  EXPECT_EQ(store.row_count("dataset", "d"), 2u);
  EXPECT_FALSE(store.row("dataset", "d", "a").has_value());
  EXPECT_TRUE(store.fetch("dataset", "d", 0, 10).events.empty());
  // Counts continue across batches and stay separate per object.
  const std::vector<std::string_view> later = {"b", "c", "c"};
  const InsertCounts again = store.count_ids("dataset", "d", later);
  EXPECT_EQ(again.unique, 1u);
  EXPECT_EQ(again.duplicates, 2u);
  EXPECT_EQ(store.row_count("dataset", "d"), 3u);
  EXPECT_EQ(store.count_ids("dataset", "other", later).unique, 2u);
  EXPECT_EQ(store.row_count("dataset", "other"), 2u);
}

TEST(FakeStoreRows, FetchOrdersByLastWrite) {
  RowStore store(StoreMode::full);
  auto first = events(R"([{"id":"a"},{"id":"b"},{"id":"c"}])");
  store.apply("project_logs", "p", first);
  auto touch = events(R"([{"id":"a","n":1,"_is_merge":true}])");
  store.apply("project_logs", "p", touch);
  FetchPage page = store.fetch("project_logs", "p", 0, 2);
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_EQ(page.events[0].at("id").as_string(), "a");
  EXPECT_EQ(page.events[1].at("id").as_string(), "c");
  EXPECT_TRUE(page.more);
  page = store.fetch("project_logs", "p", 2, 2);
  ASSERT_EQ(page.events.size(), 1u);
  EXPECT_EQ(page.events[0].at("id").as_string(), "b");
  EXPECT_FALSE(page.more);
  EXPECT_TRUE(store.fetch("project_logs", "p", 3, 2).events.empty());
}

TEST(FakeStoreProjects, GetOrCreateByNameAndId) {
  ProjectRegistry projects;
  bool created = false;
  const auto a = projects.get_or_create("a", created);
  EXPECT_TRUE(created);
  const auto again = projects.get_or_create("a", created);
  EXPECT_FALSE(created);
  EXPECT_EQ(a, again);
  const auto b = projects.get_or_create("b", created);
  EXPECT_EQ(a.at("org_id"), b.at("org_id"));
  EXPECT_NE(a.at("id"), b.at("id"));
  EXPECT_EQ(projects.by_id(std::string(b.at("id").as_string()))->at("name").as_string(), "b");
  EXPECT_FALSE(projects.by_name("c").has_value());
  EXPECT_EQ(projects.all().size(), 2u);
}

std::vector<FaultAction> draw(FaultPlan& plan, int count) {
  std::vector<FaultAction> actions;
  for (int i = 0; i < count; ++i) actions.push_back(plan.decide().action);
  return actions;
}

TEST(FakeStoreFaults, SeededPlanIsDeterministicAndRoughlyProportional) {
  const FaultConfig config{.fail_429 = 0.2, .retry_after_s = 4, .fail_5xx = 0.1, .reset = 0.05, .seed = 9};
  FaultPlan one(config), two(config);
  const auto a = draw(one, 10'000);
  EXPECT_EQ(a, draw(two, 10'000));
  std::map<FaultAction, int> counts;
  for (auto action : a) ++counts[action];
  // Wide bounds: this checks the thresholds are wired to the right actions.
  EXPECT_NEAR(counts[FaultAction::too_many_requests], 2000, 300);
  EXPECT_NEAR(counts[FaultAction::unavailable], 1000, 250);
  EXPECT_NEAR(counts[FaultAction::reset], 500, 200);
  EXPECT_EQ(counts[FaultAction::outage], 0);

  one.replace(config);  // reseeds
  EXPECT_EQ(draw(one, 100), std::vector<FaultAction>(a.begin(), a.begin() + 100));
}

TEST(FakeStoreFaults, OutageAndLatency) {
  FaultPlan plan(FaultConfig{.latency_ms = 25, .outage_start_s = 0, .outage_duration_s = 3600});
  const FaultDecision decision = plan.decide();
  EXPECT_EQ(decision.action, FaultAction::outage);
  EXPECT_EQ(decision.delay.count(), 25);
  plan.replace(FaultConfig{.outage_start_s = 3600, .outage_duration_s = 1});
  EXPECT_EQ(plan.decide().action, FaultAction::none);
  const FaultDecision retry = FaultPlan(FaultConfig{.fail_429 = 1, .retry_after_s = 6}).decide();
  EXPECT_EQ(retry.action, FaultAction::too_many_requests);
  EXPECT_EQ(retry.retry_after_s, 6);
}

TEST(FakeStoreFaults, RejectsOutOfRangeValues) {
  EXPECT_THROW(validate(FaultConfig{.fail_429 = -0.1}), std::invalid_argument);
  EXPECT_THROW(validate(FaultConfig{.fail_5xx = 1.1}), std::invalid_argument);
  EXPECT_THROW(validate(FaultConfig{.latency_ms = -1}), std::invalid_argument);
  EXPECT_THROW(validate(FaultConfig{.retry_after_s = -1}), std::invalid_argument);
  EXPECT_NO_THROW(validate(FaultConfig{}));
}

}  // namespace
