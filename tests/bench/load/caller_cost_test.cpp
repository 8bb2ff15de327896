#include "caller_cost.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace spanline::load {
namespace {

// Google Benchmark's JSON as spanline-micro writes it, with the counters of log_bench.cpp.
boost::json::value fresh_output() {
  return boost::json::parse(R"({"benchmarks":[
    {"name":"BM_LogCallFloor/20000/iterations:1/real_time","run_type":"iteration","real_time":3000,
     "time_unit":"ms","timer_ns":20,"first_p50_ns":410,"rest_p50_ns":95,"rest_p99_ns":640},
    {"name":"BM_LogCallLatency/20000/iterations:1/real_time/threads:1","run_type":"iteration",
     "real_time":3000,"time_unit":"ms","p50_ns":150,"p50_net_ns":130,"p99_ns":1800,"first_p50_ns":2600,
     "rest_p99_ns":900,"timer_ns":20},
    {"name":"BM_LogCallLatency/50000/iterations:1/real_time/threads:2","run_type":"iteration",
     "real_time":3000,"time_unit":"ms","p50_net_ns":140,"p99_ns":3500,"first_p50_ns":3100}
  ]})");
}

boost::json::value full_output() {
  return boost::json::parse(R"({"benchmarks":[
    {"name":"BM_LogSpanRow/threads:1","run_type":"iteration","real_time":210.5,"time_unit":"ns"},
    {"name":"BM_LogCallFloor/50000/iterations:1/real_time","run_type":"iteration","timer_ns":20,
     "first_p50_ns":520,"rest_p50_ns":100,"rest_p99_ns":700},
    {"name":"BM_LogCallLatency/20000/iterations:1/real_time/threads:1","run_type":"aggregate",
     "aggregate_name":"mean","p50_net_ns":999},
    {"name":"BM_LogCallLatency/20000/iterations:1/real_time/threads:1","run_type":"iteration",
     "p50_net_ns":170,"p99_ns":2100,"first_p50_ns":2900}
  ]})");
}

TEST(CallerCost, PairsEachLatencyWithTheFloorAtItsRate) {
  const auto fresh = fresh_output();
  const auto full = full_output();
  const auto rows = caller_costs(&fresh, &full);
  ASSERT_EQ(rows.size(), 3u);  // two fresh, one from the full suite (its mean aggregate left out)

  EXPECT_EQ(rows[0].benchmark, "BM_LogCallLatency/20000/threads:1");
  EXPECT_EQ(rows[0].source, "fresh process");
  EXPECT_EQ(rows[0].rate, 20000);
  EXPECT_EQ(rows[0].threads, 1);
  EXPECT_EQ(rows[0].p50_net_ns, 130);
  EXPECT_EQ(rows[0].p99_ns, 1800);
  EXPECT_EQ(rows[0].first_p50_ns, 2600);
  EXPECT_EQ(rows[0].floor_p50_net_ns, 75);  // 95 less the 20 ns timer
  EXPECT_EQ(rows[0].floor_p99_ns, 640);
  EXPECT_EQ(rows[0].floor_first_p50_ns, 410);

  // The fresh output has no floor at 50k: the full suite's is used.
  EXPECT_EQ(rows[1].benchmark, "BM_LogCallLatency/50000/threads:2");
  EXPECT_EQ(rows[1].threads, 2);
  EXPECT_EQ(rows[1].floor_first_p50_ns, 520);
  EXPECT_EQ(rows[1].floor_p50_net_ns, 80);

  EXPECT_EQ(rows[2].source, "after the other benchmarks");
  EXPECT_EQ(rows[2].p50_net_ns, 170);
  EXPECT_EQ(rows[2].floor_first_p50_ns, 410);  // its own output has no floor at 20k
}

TEST(CallerCost, MissingCountersAndOutputsAreEmptyNotZero) {
  const auto sparse = boost::json::parse(
      R"({"benchmarks":[{"name":"BM_LogCallLatency/20000/iterations:1/real_time/threads:1","p99_ns":900}]})");
  const auto rows = caller_costs(&sparse, nullptr);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].p50_net_ns.has_value());
  EXPECT_FALSE(rows[0].floor_p99_ns.has_value());
  EXPECT_EQ(rows[0].p99_ns, 900);
  const auto not_benchmark = boost::json::parse(R"({"x":[1]})");
  EXPECT_TRUE(caller_costs(&not_benchmark, nullptr).empty());
  EXPECT_TRUE(caller_costs(nullptr, nullptr).empty());
}

TEST(CallerCost, SectionShowsLoggerAndFloorSideBySide) {
  const auto fresh = fresh_output();
  const auto full = full_output();
  std::string md;
  caller_cost_section(md, caller_costs(&fresh, &full));
  EXPECT_NE(md.find("## Caller cost of one log() call"), std::string::npos);
  EXPECT_NE(
      md.find("| `BM_LogCallLatency/20000/threads:1` | fresh process | 130 ns | 1800 ns | 2600 ns | 75 ns | "
              "640 ns | 410 ns |"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("| `BM_LogCallLatency/50000/threads:2` | fresh process | 140 ns | 3500 ns | 3100 ns |"),
            std::string::npos)
      << md;
  std::string none;
  caller_cost_section(none, {});
  EXPECT_NE(none.find("not measured"), std::string::npos);
}

}  // namespace
}  // namespace spanline::load
