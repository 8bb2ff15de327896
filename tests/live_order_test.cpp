#include "transport/live_order.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

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

}  // namespace
}  // namespace spanline::detail
