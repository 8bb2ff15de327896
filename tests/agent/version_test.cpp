// The daemon reports the version of project(VERSION) in CMakeLists.txt, the project's
// only version number, and not a literal of its own.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <spanline/version.hpp>

namespace spanline::testing {
namespace {

const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

TEST(DaemonVersion, PrintsTheProjectVersion) {
  ChildProcess daemon(kDaemon, {"--version"}, {});
  ASSERT_EQ(daemon.wait_exit(60s), 0) << daemon.stderr_text();
  const std::string out = daemon.stdout_text();
  EXPECT_EQ(out.rfind("spanlined " SPANLINE_PROJECT_VERSION " (allocator: ", 0), 0u) << out;
  EXPECT_NE(out.find(", commit "), std::string::npos) << out;
}

TEST(DaemonVersion, PublicHeaderCarriesTheProjectVersion) {
  EXPECT_STREQ(SPANLINE_VERSION_STRING, SPANLINE_PROJECT_VERSION);
  EXPECT_EQ(std::to_string(SPANLINE_VERSION_MAJOR) + "." + std::to_string(SPANLINE_VERSION_MINOR) + "." +
                std::to_string(SPANLINE_VERSION_PATCH),
            SPANLINE_PROJECT_VERSION);
}

// /metrics of a running daemon names its build and carries the process_* families.
TEST(DaemonVersion, MetricsReportTheBuildAndTheProcess) {
  fakeapi::ServerConfig config;
  config.api_key = "sk-version-test-0123456789";
  fakeapi::FakeApi api(config);
  TempDir dir;
  RunningDaemon daemon =
      launch_daemon(kDaemon,
                    {"--ingest.uds_path=" + dir.file("s.sock"), "--ingest.datagram_path=off",
                     "--ingest.http_listen=off", "--admin.listen=127.0.0.1:0"},
                    api.base_url(), config.api_key);
  const auto answer = http_get(daemon.admin, "/metrics");
  ASSERT_EQ(answer.status, 200);
  const PromText metrics = parse_prometheus(answer.body);
  ASSERT_TRUE(metrics.errors.empty()) << metrics.errors.front();
  const auto build = std::find_if(metrics.samples.begin(), metrics.samples.end(),
                                  [](const PromSample& s) { return s.name == "spanline_build_info"; });
  ASSERT_NE(build, metrics.samples.end()) << answer.body;
  EXPECT_EQ(build->value, 1);
  EXPECT_EQ(build->labels.at("version"), SPANLINE_PROJECT_VERSION);
  EXPECT_FALSE(build->labels.at("commit").empty());
#ifdef SPANLINE_EXPECT_AGENT_JEMALLOC
  EXPECT_EQ(build->labels.at("allocator"), "jemalloc");
#else
  EXPECT_EQ(build->labels.at("allocator"), "libc");
#endif
  EXPECT_GT(metrics.value("process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GE(metrics.value("process_open_fds").value_or(0), 5);  // stdio, listeners, epoll
  EXPECT_EQ(metrics.value("process_max_fds").value_or(0) > 0, true);
  EXPECT_GT(metrics.value("process_start_time_seconds").value_or(0), 1e9);
  EXPECT_TRUE(metrics.value("process_cpu_seconds_total"));
  EXPECT_TRUE(metrics.value("process_virtual_memory_bytes"));
  for (const auto& [family, type] : metrics.types) {
    EXPECT_FALSE(family.starts_with("spanlined_")) << family;
  }
  daemon.process->signal(SIGTERM);
  EXPECT_EQ(daemon.process->wait_exit(120s), 0) << daemon.process->stderr_text();
}

}  // namespace
}  // namespace spanline::testing
