#include "batch/settled_events.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

std::vector<BatchEvent> events_of(std::size_t count) {
  std::vector<BatchEvent> events(count);
  for (std::size_t i = 0; i < count; ++i) events[i].json = std::string(200, 'x');
  return events;
}

TEST(SettledEvents, TakesTheEventsAndFreesThemWhenAsked) {
  SettledEvents settled;
  auto events = events_of(3);
  settled.hand_over(events);
  EXPECT_TRUE(events.empty()) << "the giver is left with nothing to free";
  EXPECT_EQ(settled.batches_held(), 1u);
  settled.free_all();
  EXPECT_EQ(settled.batches_held(), 0u);
}

TEST(SettledEvents, AFullHandOverLeavesTheEventsWithTheGiver) {
  SettledEvents settled;
  for (std::size_t i = 0; i < SettledEvents::kMaxHeld; ++i) {
    auto events = events_of(1);
    settled.hand_over(events);
    ASSERT_TRUE(events.empty());
  }
  auto extra = events_of(2);
  settled.hand_over(extra);
  EXPECT_EQ(extra.size(), 2u) << "beyond kMaxHeld the giver frees its own events";
  EXPECT_EQ(settled.batches_held(), SettledEvents::kMaxHeld);
  settled.free_all();
  auto again = events_of(1);
  settled.hand_over(again);
  EXPECT_TRUE(again.empty()) << "room again once the batcher has freed what it held";
}

TEST(SettledEvents, NothingToHandOverHoldsNothing) {
  SettledEvents settled;
  std::vector<BatchEvent> none;
  settled.hand_over(none);
  EXPECT_EQ(settled.batches_held(), 0u);
}

TEST(SettledEvents, GiverAndFreerOnTwoThreads) {
  SettledEvents settled;
  constexpr int kBatches = 2000;
  std::thread giver([&] {
    for (int i = 0; i < kBatches; ++i) {
      auto events = events_of(4);
      settled.hand_over(events);  // freed here when the holder is full
    }
  });
  for (int i = 0; i < kBatches; ++i) settled.free_all();
  giver.join();
  settled.free_all();
  EXPECT_EQ(settled.batches_held(), 0u);
}

}  // namespace
}  // namespace spanline::detail
