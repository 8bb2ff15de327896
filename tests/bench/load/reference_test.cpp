#include "reference.hpp"

#include "thread_cpu_clock.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace spanline::load {
namespace {

// Spins on this thread until it has used `cpu_seconds` of its own CPU time; false if that
// did not happen within a generous wall-clock deadline (a clock that never advances).
bool burn_cpu(double cpu_seconds) {
  const double start = thread_cpu_seconds();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  volatile std::uint64_t sink = 0;
  while (thread_cpu_seconds() - start < cpu_seconds) {
    for (std::uint64_t i = 0; i < 10'000; ++i) sink = sink * 31 + i;
    if (std::chrono::steady_clock::now() > deadline) return false;
  }
  return true;
}

TEST(ReferenceCpuClock, AdvancesWithThisThreadsWork) {
  const double before = thread_cpu_seconds();
  ASSERT_TRUE(burn_cpu(0.05));
  EXPECT_GE(thread_cpu_seconds() - before, 0.05);
}

// A wall clock counts the wait and a process CPU clock counts the other thread's work;
// only this thread's CPU clock stands still while the thread waits for the other to finish.
TEST(ReferenceCpuClock, StandsStillWhileThisThreadWaitsOnAnotherThreadsWork) {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  bool burned = false;

  const double before = thread_cpu_seconds();
  std::thread worker([&] {
    const bool ok = burn_cpu(0.2);
    const std::lock_guard lock(mutex);
    burned = ok;
    done = true;
    finished.notify_one();
  });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(finished.wait_for(lock, std::chrono::seconds(120), [&] { return done; }));
  }
  const double waited = thread_cpu_seconds() - before;
  worker.join();

  ASSERT_TRUE(burned);
  EXPECT_LT(waited, 0.1) << "the waiting thread was charged for the worker's 0.2 s of CPU";
}

TEST(ReferenceCpuClock, StandsStillDuringATimedWaitNobodySignals) {
  std::mutex mutex;
  std::condition_variable never_signalled;
  const auto wall_before = std::chrono::steady_clock::now();
  const double before = thread_cpu_seconds();
  {
    std::unique_lock lock(mutex);
    EXPECT_FALSE(never_signalled.wait_for(lock, std::chrono::milliseconds(200), [] { return false; }));
  }
  const double cpu = thread_cpu_seconds() - before;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  ASSERT_GE(wall, 0.2);
  EXPECT_LT(cpu, wall / 2);
}

// Fake clocks that advance a fixed amount per unit of work, so the arithmetic is exact.
struct FakeWork {
  double cpu_per_step;
  double wall_per_step;
  int steps = 0;

  std::function<std::uint64_t()> step() {
    return [this] {
      ++steps;
      return std::uint64_t{1000};
    };
  }
  RateClocks clocks() {
    return {.cpu_seconds = [this] { return steps * cpu_per_step; },
            .wall_seconds = [this] { return steps * wall_per_step; }};
  }
};

TEST(ReferenceRate, IsWorkPerCpuSecondWithTheWallRateAlongside) {
  // Descheduled half the time: 0.125 s of CPU per 0.25 s of wall clock.
  FakeWork work{.cpu_per_step = 0.125, .wall_per_step = 0.25};
  const Rate rate = measure_rate(work.step(), 1.0, work.clocks());
  EXPECT_EQ(work.steps, 8);  // runs until 1 s of CPU time, not 1 s of wall clock
  EXPECT_DOUBLE_EQ(rate.per_cpu_second, 8000.0);
  EXPECT_DOUBLE_EQ(rate.per_wall_second, 4000.0);
}

TEST(ReferenceRate, AStarvedThreadStopsAtTheWallCapWithItsCpuRate) {
  FakeWork work{.cpu_per_step = 0.0625, .wall_per_step = 1.0};
  const Rate rate = measure_rate(work.step(), 1.0, work.clocks());
  EXPECT_EQ(work.steps, 4);  // 4x the budget on the wall clock
  EXPECT_DOUBLE_EQ(rate.per_cpu_second, 4000.0 / 0.25);
  EXPECT_DOUBLE_EQ(rate.per_wall_second, 1000.0);
}

TEST(ReferenceRate, DoesTheWorkAtLeastOnce) {
  FakeWork work{.cpu_per_step = 0.5, .wall_per_step = 0.5};
  const Rate rate = measure_rate(work.step(), 0.0, work.clocks());
  EXPECT_EQ(work.steps, 1);
  EXPECT_DOUBLE_EQ(rate.per_cpu_second, 2000.0);
}

TEST(ReferenceRate, MeasuresRealWorkOnBothClocks) {
  const Reference ref = measure_reference(GeneratorConfig{}, 0.05);
  EXPECT_GT(ref.batch_bytes, 1u << 20);
  EXPECT_GT(ref.zstd1_bytes_per_s, 0);
  EXPECT_GT(ref.zstd1_bytes_per_s_wall, 0);
  EXPECT_GT(ref.zstd1_ratio, 1);
  EXPECT_GT(ref.memcpy_bytes_per_s, 0);
  EXPECT_GT(ref.memcpy_bytes_per_s_wall, 0);
}

TEST(ReferenceJson, KeepsTheFieldNamesReadersUseAndAddsTheWallRates) {
  Reference ref;
  ref.bytes_per_span = 2000;
  ref.zstd1_bytes_per_s = 500e6;
  ref.zstd1_bytes_per_s_wall = 120e6;
  ref.memcpy_bytes_per_s = 8e9;
  ref.memcpy_bytes_per_s_wall = 2e9;
  const boost::json::object json = to_json(ref);
  EXPECT_EQ(json.at("zstd1_bytes_per_s").as_double(), 500e6);
  EXPECT_EQ(json.at("memcpy_bytes_per_s").as_double(), 8e9);
  const Reference back = reference_from_json(json);
  EXPECT_EQ(back.zstd1_bytes_per_s, 500e6);
  EXPECT_EQ(back.zstd1_bytes_per_s_wall, 120e6);
  EXPECT_EQ(back.memcpy_bytes_per_s_wall, 2e9);

  // A reference.json written before the wall rates existed still reads.
  const Reference old = reference_from_json(boost::json::parse(R"({"zstd1_bytes_per_s":5e8})"));
  EXPECT_EQ(old.zstd1_bytes_per_s, 5e8);
  EXPECT_EQ(old.zstd1_bytes_per_s_wall, 0);
}

}  // namespace
}  // namespace spanline::load
