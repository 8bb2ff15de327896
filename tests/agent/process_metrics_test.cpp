// The process_* families and spanline_build_info, and one name prefix for every family
// the daemon exports.

#include "process_metrics.hpp"

#include "agent/prometheus_text.hpp"
#include "prometheus.hpp"

#include <gtest/gtest.h>

#include <spanline/version.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace spanline::agent {
namespace {

using spanline::testing::parse_prometheus;

TEST(ProcessMetrics, ParsesProcStatWhateverTheCommandName) {
  // Fields 3..24 after a command name holding spaces and parentheses.
  const std::string line =
      "4242 (odd ) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 123456 987654321 2048 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  const auto stat = parse_proc_stat(line);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->utime_ticks, 250u);
  EXPECT_EQ(stat->stime_ticks, 75u);
  EXPECT_EQ(stat->starttime_ticks, 123456u);
  EXPECT_EQ(stat->vsize_bytes, 987654321u);
  EXPECT_EQ(stat->rss_pages, 2048u);
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 eleven 12 13 14 15 16 17 18 19 20 21 22"));
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const ProcessSnapshot before = read_process_snapshot();
  ASSERT_TRUE(before.available);
  EXPECT_GT(before.resident_memory_bytes, 0u);
  EXPECT_GE(before.virtual_memory_bytes, before.resident_memory_bytes);
  EXPECT_GE(before.open_fds, 3u);  // stdin, stdout, stderr at least
  EXPECT_GT(before.max_fds, 0u);
  EXPECT_GE(before.cpu_seconds, 0.0);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(before.start_time_seconds, now + 1);
  EXPECT_GT(before.start_time_seconds, 1e9);  // an epoch time, not seconds since boot

  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const ProcessSnapshot after = read_process_snapshot();
  ::close(fd);
  EXPECT_EQ(after.open_fds, before.open_fds + 1);
  EXPECT_EQ(after.start_time_seconds, before.start_time_seconds);
}

TEST(ProcessMetrics, RendersStandardNamesAndBuildInfo) {
  std::string out;
  ProcessSnapshot process{.available = true,
                          .cpu_seconds = 1.5,
                          .start_time_seconds = 1765000000.25,
                          .resident_memory_bytes = 4096,
                          .virtual_memory_bytes = 8192,
                          .open_fds = 7,
                          .max_fds = 65536};
  render_process_metrics(process, {.version = "1.2.3", .commit = "abc\"def", .allocator = "jemalloc"}, out);
  const auto text = parse_prometheus(out);
  ASSERT_TRUE(text.errors.empty()) << text.errors.front() << "\n" << out;
  EXPECT_EQ(text.value("process_cpu_seconds_total"), 1.5);
  EXPECT_EQ(text.value("process_start_time_seconds"), 1765000000.25);
  EXPECT_EQ(text.value("process_resident_memory_bytes"), 4096);
  EXPECT_EQ(text.value("process_virtual_memory_bytes"), 8192);
  EXPECT_EQ(text.value("process_open_fds"), 7);
  EXPECT_EQ(text.value("process_max_fds"), 65536);
  EXPECT_EQ(text.types.at("process_cpu_seconds_total"), "counter");
  EXPECT_EQ(text.value("spanline_build_info",
                       {{"version", "1.2.3"}, {"commit", "abc\"def"}, {"allocator", "jemalloc"}}),
            1);

  out.clear();
  render_process_metrics(ProcessSnapshot{}, build_info(), out);
  const auto unavailable = parse_prometheus(out);
  EXPECT_FALSE(unavailable.value("process_open_fds"));
  ASSERT_EQ(unavailable.samples.size(), 1u) << out;
  EXPECT_EQ(unavailable.samples[0].labels.at("version"), SPANLINE_VERSION_STRING);
}

std::string full_exposition() {
  IngestSnapshot ingest;
  ingest.http_responses[200] = 3;
  DurableIngestSnapshot durable;
  durable.enabled = true;
  std::string out;
  render_prometheus(Stats{}, ingest, durable, out);
  render_process_metrics(read_process_snapshot(), build_info(), out);
  return out;
}

TEST(ProcessMetrics, EveryDaemonFamilyHasOnePrefix) {
  const auto text = parse_prometheus(full_exposition());
  ASSERT_TRUE(text.errors.empty()) << text.errors.front();
  for (const auto& [family, type] : text.types) {
    EXPECT_TRUE(family.starts_with("spanline_") || family.starts_with("process_")) << family;
    EXPECT_FALSE(family.starts_with("spanlined_")) << family;
  }
  EXPECT_TRUE(text.types.count("spanline_ingest_events_total"));
  EXPECT_TRUE(text.types.count("spanline_ready"));
  EXPECT_TRUE(text.types.count("spanline_build_info"));
}

// promtool (Debian's prometheus package) is the reference linter; without it this skips.
TEST(ProcessMetrics, PromtoolChecksTheExposition) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool is not installed";
  const auto dir =
      std::filesystem::temp_directory_path() / ("spanline-promtool-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto input = dir / "metrics.txt";
  const auto output = dir / "promtool.out";
  std::ofstream(input) << full_exposition();
  const std::string command =
      "promtool check metrics < '" + input.string() + "' > '" + output.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream result(output);
  const std::string said{std::istreambuf_iterator<char>(result), std::istreambuf_iterator<char>()};
  std::filesystem::remove_all(dir);
  EXPECT_EQ(status, 0) << said;
  EXPECT_EQ(said, "") << said;
}

}  // namespace
}  // namespace spanline::agent
