// Durable ingest never holds an I/O thread during an fsync: the daemon runs in process on
// ONE I/O thread, and the spool's fsync is held at a gate (spool_writer.hpp's test seam)
// while a durable request waits for it. The same thread must still answer other requests
// and read further durable requests; once the gate opens, every waiting request gets its
// 200 and its rows arrive.

#include "agent/daemon_process.hpp"
#include "daemon.hpp"
#include "fake_api.hpp"
#include "spool/spool_writer.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <regex>

namespace spanline::testing {
namespace {

using namespace std::chrono_literals;

const std::string kApiKey = "sk-fsync-gate-test-0123456789";

// Every fsync of a segment waits here while the gate is closed.
struct FsyncGate {
  std::mutex mutex;
  std::condition_variable changed;
  bool closed = false;
  int waiting = 0;  // fsyncs held at the gate now

  static FsyncGate& instance() {
    static FsyncGate gate;
    return gate;
  }
  static void hold() {
    FsyncGate& gate = instance();
    std::unique_lock lock(gate.mutex);
    ++gate.waiting;
    gate.changed.notify_all();
    gate.changed.wait(lock, [&] { return !gate.closed; });
    --gate.waiting;
  }
  void close() {
    std::lock_guard lock(mutex);
    closed = true;
  }
  void open() {
    {
      std::lock_guard lock(mutex);
      closed = false;
    }
    changed.notify_all();
  }
  bool wait_for_a_held_fsync(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return waiting > 0; });
  }
};

// Installs the hook for one test; opens the gate and removes the hook whatever happens.
struct GateInstalled {
  GateInstalled() { detail::set_before_fsync_hook_for_testing(&FsyncGate::hold); }
  ~GateInstalled() {
    FsyncGate::instance().open();
    detail::set_before_fsync_hook_for_testing(nullptr);
  }
};

std::string insert_body(const std::string& prefix, int rows) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < rows; ++i) {
    if (i) body += ',';
    body += R"({"id":")" + prefix + std::to_string(i) + R"(","input":"held at the fsync gate"})";
  }
  return body + "]}";
}

TEST(DaemonDurableFsync, AnIoThreadIsNeverHeldByAnFsync) {
  fakeapi::ServerConfig api_config;
  api_config.api_key = kApiKey;
  fakeapi::FakeApi api(api_config);
  TempDir dir;

  agent::CommandLine cli;
  cli.settings = {{"ingest.uds_path", "off"},
                  {"ingest.datagram_path", "off"},
                  {"ingest.tcp_listen", "off"},
                  {"ingest.http_listen", "127.0.0.1:0"},
                  {"admin.listen", "off"},
                  {"ingest.threads", "1"},
                  {"destination.project_id", "gate-proj"},
                  {"spool.dir", dir.file("spool")},
                  {"ingest.ack", "durable"},
                  {"ingest.ack_timeout_ms", "120000"},
                  {"api.url", api.base_url()},
                  {"api.key", kApiKey}};
  const agent::EnvLookup no_env = [](const char*) -> const char* { return nullptr; };

  // Declared before the gate's guard: the guard opens the gate first when the test ends
  // early, so that these requests are answered and their futures can be destroyed.
  std::future<HttpAnswer> first, second, version;
  GateInstalled installed;
  FsyncGate& gate = FsyncGate::instance();

  agent::Daemon daemon(agent::load_config(cli, no_env));
  daemon.start();
  std::smatch found;
  const std::string ready = daemon.ready_line();
  ASSERT_TRUE(std::regex_search(ready, found, std::regex(R"(http=(\S+))"))) << ready;
  const std::string url = found[1];
  const std::map<std::string, std::string> bearer = {{"Authorization", "Bearer " + kApiKey}};
  const auto post = [&](const std::string& body) {
    return std::async(std::launch::async, [=] {
      return http_request(url, boost::beast::http::verb::post, "/v1/project_logs/gate-proj/insert", body,
                          bearer);
    });
  };

  gate.close();
  first = post(insert_body("first-", 3));
  ASSERT_TRUE(gate.wait_for_a_held_fsync(30s)) << "the durable request never reached its fsync";

  // The only I/O thread reads another durable request and answers a plain one meanwhile.
  second = post(insert_body("second-", 2));
  version = std::async(std::launch::async, [&] {
    return http_request(url, boost::beast::http::verb::get, "/version", {}, bearer);
  });
  ASSERT_EQ(version.wait_for(30s), std::future_status::ready) << "an fsync held the I/O thread";
  EXPECT_EQ(version.get().status, 200);
  // Still held: neither durable request can have been answered.
  EXPECT_EQ(first.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(second.wait_for(0s), std::future_status::timeout);

  gate.open();
  ASSERT_EQ(first.wait_for(30s), std::future_status::ready);
  ASSERT_EQ(second.wait_for(30s), std::future_status::ready);
  const HttpAnswer first_answer = first.get();
  const HttpAnswer second_answer = second.get();
  EXPECT_EQ(first_answer.status, 200) << first_answer.body;
  EXPECT_EQ(second_answer.status, 200) << second_answer.body;
  EXPECT_TRUE(test_support::wait_for([&] { return api.stats().unique_rows == 5; }, 30s))
      << api.stats().unique_rows << " rows arrived";
  daemon.stop();
  EXPECT_EQ(api.stats().duplicate_rows, 0u);
}

}  // namespace
}  // namespace spanline::testing
