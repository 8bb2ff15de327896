#include "transport/live_order.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

namespace spanline::detail {
namespace {

Batch batch_with_keys(std::initializer_list<std::uint64_t> keys) {
  Batch batch;
  for (const std::uint64_t key : keys) batch.events.push_back(BatchEvent{.json = "{}", .id_key = key});
  return batch;
}

TEST(LiveOrder, BatchesSharingNoIdAreAllFirstInLine) {
  LiveOrder order;
  const auto a = order.hold(batch_with_keys({1, 2}));
  const auto b = order.hold(batch_with_keys({3, 4}));
  EXPECT_TRUE(a->first_in_line());
  EXPECT_TRUE(b->first_in_line());
  EXPECT_EQ(order.ids_tracked(), 4u);
}

TEST(LiveOrder, ALaterBatchWaitsForEveryEarlierOneSharingAnId) {
  LiveOrder order;
  auto start = order.hold(batch_with_keys({1, 2}));
  auto other = order.hold(batch_with_keys({2, 5}));
  auto end = order.hold(batch_with_keys({1, 5, 9}));
  EXPECT_TRUE(start->first_in_line());
  EXPECT_FALSE(other->first_in_line());  // behind start on id 2
  EXPECT_FALSE(end->first_in_line());    // behind start on 1, behind other on 5
  start.reset();
  EXPECT_TRUE(other->first_in_line());
  EXPECT_FALSE(end->first_in_line());
  other.reset();
  EXPECT_TRUE(end->first_in_line());
  end.reset();
  EXPECT_EQ(order.ids_tracked(), 0u);
}

TEST(LiveOrder, ReleasingOutOfOrderKeepsTheRestInLine) {
  LiveOrder order;
  auto first = order.hold(batch_with_keys({7}));
  auto second = order.hold(batch_with_keys({7}));
  auto third = order.hold(batch_with_keys({7}));
  second.reset();  // e.g. spooled before it was ever sent
  EXPECT_FALSE(third->first_in_line());
  first.reset();
  EXPECT_TRUE(third->first_in_line());
}

TEST(LiveOrder, RowsWithoutAnIdAndRepeatedIdsInOneBatch) {
  LiveOrder order;
  auto a = order.hold(batch_with_keys({0, 0, 3, 3}));  // 0: no id; 3 twice (rows that did not combine)
  auto b = order.hold(batch_with_keys({0}));
  EXPECT_TRUE(a->first_in_line());
  EXPECT_TRUE(b->first_in_line());
  EXPECT_EQ(order.ids_tracked(), 1u);
  a.reset();
  EXPECT_EQ(order.ids_tracked(), 0u);
}

TEST(LiveOrder, HalvesOfASplitBatchShareItsPlace) {
  LiveOrder order;
  auto whole = order.hold(batch_with_keys({1, 2}));
  auto later = order.hold(batch_with_keys({2}));
  auto half = whole;  // the other half of a 413 split keeps the same hold
  whole.reset();
  EXPECT_FALSE(later->first_in_line());
  half.reset();
  EXPECT_TRUE(later->first_in_line());
}

TEST(LiveOrder, RandomHoldsAndReleasesMatchTheRuleEveryStep) {
  // Batches with overlapping ids, let go in random order, against the rule itself: a
  // batch is first in line exactly when no earlier batch still held shares an id with it.
  // Enough ids to make the table grow and shrink, and keys chosen so that many share
  // their low bits and crowd the same slots.
  std::mt19937_64 rng(2024);
  struct Held {
    std::uint64_t order;  // when it was taken
    std::set<std::uint64_t> ids;
    std::shared_ptr<LiveOrder::Hold> hold;
  };
  LiveOrder order;
  std::vector<Held> held;
  std::uint64_t taken = 0;
  for (int step = 0; step < 2000; ++step) {
    if (held.size() < 12 && rng() % 3 != 0) {
      const std::size_t count = rng() % 8 == 0 ? 3000 : 1 + rng() % 40;
      Batch batch;
      std::set<std::uint64_t> ids;
      for (std::size_t i = 0; i < count; ++i) {
        // A small pool of shared ids, and many ids that differ only above bit 12.
        const std::uint64_t key = rng() % 4 == 0 ? 1 + rng() % 50 : ((rng() % 100000) << 12) | 0x5;
        batch.events.push_back(BatchEvent{.json = "{}", .id_key = key});
        ids.insert(key);
      }
      held.push_back(Held{taken++, std::move(ids), order.hold(batch)});
    } else if (!held.empty()) {
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(rng() % held.size()));
    }
    // The earliest batch still holding each id.
    std::map<std::uint64_t, std::uint64_t> earliest;
    for (const Held& h : held)
      for (const std::uint64_t id : h.ids) earliest.try_emplace(id, h.order);
    ASSERT_EQ(order.ids_tracked(), earliest.size()) << "step " << step;
    for (const Held& h : held) {
      const bool blocked = std::any_of(h.ids.begin(), h.ids.end(),
                                       [&](std::uint64_t id) { return earliest.at(id) < h.order; });
      ASSERT_EQ(h.hold->first_in_line(), !blocked) << "step " << step << " batch " << h.order;
    }
  }
  held.clear();
  EXPECT_EQ(order.ids_tracked(), 0u);
}

TEST(LiveOrder, ABatchTakenAfterALargeOneHasGoneIsFirstAtOnce) {
  LiveOrder order;
  Batch large;
  for (std::uint64_t key = 1; key <= 100'000; ++key)
    large.events.push_back(BatchEvent{.json = "{}", .id_key = key});
  auto big = order.hold(large);
  EXPECT_EQ(order.ids_tracked(), 100'000u);
  auto follower = order.hold(batch_with_keys({100'000}));
  EXPECT_FALSE(follower->first_in_line());
  big.reset();
  EXPECT_TRUE(follower->first_in_line());
  EXPECT_EQ(order.ids_tracked(), 1u);
  auto again = order.hold(large);        // the same ids once more, after the table shrank
  EXPECT_FALSE(again->first_in_line());  // behind follower on id 100000
  follower.reset();
  EXPECT_TRUE(again->first_in_line());
}

}  // namespace
}  // namespace spanline::detail
