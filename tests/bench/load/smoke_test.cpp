// Short end-to-end runs of spanline-load's driver: the library (inproc) against an
// in-process fake API, and, when the sidecar has been built, each socket target
// through a spawned spanlined. Each asserts that no row id was lost.

#include "driver.hpp"

#include "report.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace spanline::load {
namespace {

LoadConfig smoke_config() {
  LoadConfig c;
  c.spawn_fakeapi = true;
  c.fake_store = fakeapi::StoreMode::ids;
  c.threads = 2;
  c.mode = LoadMode::closed;
  c.max_spans = 20'000;
  c.drain_timeout_s = 60;
  c.distinct_traces = 64;
  c.progress = false;
  c.generator.seed = 7;
  c.generator.prompt_bytes = 300;
  c.generator.completion_bytes = 200;
  return c;
}

void expect_no_loss(const RunResult& r, std::uint64_t at_least) {
  EXPECT_TRUE(r.delivery_known);
  EXPECT_GE(r.sent, at_least);
  EXPECT_EQ(r.delivered_unique, r.sent);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.unexpected, 0u);
  EXPECT_EQ(r.dropped_local, 0u);
  EXPECT_GT(r.bytes_raw, 0u);
  EXPECT_GT(r.bytes_wire, 0u);
}

TEST(LoadSmoke, InprocClosedLoopLosesNothing) {
  const RunResult r = run_load(smoke_config(), nullptr);
  expect_no_loss(r, 20'000);
  EXPECT_EQ(r.rows_logged, r.sent * 4);  // start + 2 merges + end per span
  EXPECT_GT(r.caller_call.count, 0u);
  EXPECT_GT(r.caller_trace.count, 0u);
  EXPECT_GE(r.caller_trace.p99, r.caller_trace.p50);
  EXPECT_GT(r.compression_ratio, 1.0);  // zstd by default
  EXPECT_GT(r.cpu_seconds, 0.0);
  EXPECT_GT(r.peak_rss_bytes, 0u);
}

TEST(LoadSmoke, InprocOpenLoopKeepsTheRateAndLosesNothing) {
  LoadConfig c = smoke_config();
  c.mode = LoadMode::open;
  c.rate = 4000;
  c.max_spans = 0;
  c.duration_s = 2;
  c.progress_interval_s = 0.5;
  const RunResult r = run_load(c, nullptr);
  expect_no_loss(r, 1000);
  // Open loop offers about rate x duration spans; allow generous slack for a busy machine.
  EXPECT_LE(r.sent, 8000u + 100u);
  EXPECT_GE(r.sent, 4000u);
  EXPECT_GE(r.samples.size(), 2u);
  EXPECT_GT(r.delivery.count, 0u);
}

TEST(LoadSmoke, InprocThrough429sLosesNothing) {
  LoadConfig c = smoke_config();
  c.max_spans = 5'000;
  c.faults.fail_429 = 0.3;
  c.faults.retry_after_s = 1;
  c.logger_options = {{"batch.linger_ms", "5"}};
  const RunResult r = run_load(c, nullptr);
  expect_no_loss(r, 5'000);
  EXPECT_FALSE(r.faults.empty());
}

// --- socket targets: need spanlined ---------------------------------------------------

std::string agent_binary() { return std::string(SPANLINE_BINARY_DIR) + "/spanlined"; }

void socket_smoke(const std::string& target) {
  if (!std::filesystem::exists(agent_binary())) {
    GTEST_SKIP() << "spanlined not built at " << agent_binary() << "; socket targets need the sidecar";
  }
  LoadConfig c = smoke_config();
  c.target = target;
  c.spawn_agent = agent_binary();
  c.max_spans = 5'000;
  const RunResult r = run_load(c, nullptr);
  expect_no_loss(r, 5'000);
  EXPECT_EQ(r.target, target);
  // The spawned sidecar's own counters were read, and it dropped nothing.
  EXPECT_TRUE(r.sidecar_counts_known);
  EXPECT_EQ(r.dropped_sidecar_total(), 0u);
  EXPECT_TRUE(r.clean());
}

TEST(LoadSmoke, UdsTargetLosesNothing) { socket_smoke("uds"); }
TEST(LoadSmoke, DatagramTargetLosesNothing) { socket_smoke("udp-unix"); }
TEST(LoadSmoke, TcpTargetLosesNothing) { socket_smoke("tcp"); }
TEST(LoadSmoke, HttpTargetLosesNothing) { socket_smoke("http"); }
TEST(LoadSmoke, OtlpTargetLosesNothing) { socket_smoke("otlp"); }
TEST(LoadSmoke, Logs3TargetLosesNothing) { socket_smoke("logs3"); }

TEST(LoadSmoke, RowsTheSidecarDropsItselfAreCountedAsDroppedNotLost) {
  if (!std::filesystem::exists(agent_binary())) {
    GTEST_SKIP() << "spanlined not built at " << agent_binary() << "; socket targets need the sidecar";
  }
  // The smallest queue the daemon allows, dropping what does not fit, in front of a slow
  // API: the producers write far faster than it can deliver, so it drops rows itself.
  LoadConfig c = smoke_config();
  c.target = "uds";
  c.spawn_agent = agent_binary();
  c.agent_args = {"--queue.max_bytes=65536", "--queue.overflow=drop_newest"};
  c.faults.latency_ms = 200;
  const RunResult r = run_load(c, nullptr);
  ASSERT_TRUE(r.delivery_known);
  ASSERT_TRUE(r.sidecar_counts_known);
  ASSERT_GT(r.dropped_sidecar.count("queue_full"), 0u) << describe_drops(r.dropped_sidecar);
  EXPECT_GT(r.missing, 0u);
  EXPECT_EQ(r.missing, r.sent - r.delivered_unique);
  // Every missing id is accounted for by the daemon's counted drops: none is lost.
  EXPECT_EQ(r.lost, 0u) << "missing " << r.missing << ", sidecar dropped " << r.dropped_sidecar_total();
  EXPECT_LE(r.missing * 4, r.dropped_sidecar_total());  // each id is logged with 4 rows
  EXPECT_FALSE(r.clean());
}

}  // namespace
}  // namespace spanline::load
