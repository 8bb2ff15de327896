// The official Braintrust TypeScript SDK (npm "braintrust", pinned in tests/sdk), unchanged,
// pointed at spanlined with BRAINTRUST_API_URL: its spans must reach the fake API as its own
// direct upload would leave them. Needs node and `npm ci` in tests/sdk (scripts/test.sh does
// it); without them the tests skip, unless SPANLINE_REQUIRE_SDK=1 (CI), where that fails.

#include "agent/daemon_process.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>

namespace spanline::testing {
namespace {

using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace json = boost::json;

const std::string kApiKey = "sk-sdk-e2e-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";
const std::filesystem::path kSdkDir = std::filesystem::path(SPANLINE_SOURCE_DIR) / "tests" / "sdk";

std::string find_node() {
  const char* path = std::getenv("PATH");
  std::string_view rest = path != nullptr ? path : "/usr/bin:/usr/local/bin";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path candidate = std::filesystem::path(rest.substr(0, colon)) / "node";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return {};
}

// Empty when the SDK can run here; otherwise why not.
std::string sdk_missing() {
  if (find_node().empty()) return "node is not on PATH";
  if (!std::filesystem::exists(kSdkDir / "node_modules" / "braintrust" / "package.json"))
    return "the pinned SDK is not installed (run: npm ci --prefix tests/sdk)";
  return {};
}

#define REQUIRE_SDK()                                                              \
  do {                                                                             \
    if (const std::string why = sdk_missing(); !why.empty()) {                     \
      const char* required = std::getenv("SPANLINE_REQUIRE_SDK");                  \
      if (required != nullptr && std::string_view(required) == "1") FAIL() << why; \
      GTEST_SKIP() << why;                                                         \
    }                                                                              \
  } while (false)

struct ProgramRun {
  std::string project_id;
  std::map<std::string, std::string> ids;  // key ("root-3", "child-3") -> row id
  double flush_ms = 0;
};

// Runs tests/sdk/log_spans.mjs with the SDK's own environment variables.
ProgramRun run_program(const std::string& app_url, const std::string& api_url, int spans,
                       const std::string& project) {
  std::map<std::string, std::string> env{{"BRAINTRUST_APP_URL", app_url},
                                         {"BRAINTRUST_API_KEY", kApiKey},
                                         {"SPANS", std::to_string(spans)},
                                         {"PROJECT", project}};
  if (!api_url.empty()) env["BRAINTRUST_API_URL"] = api_url;
  ChildProcess node(find_node(), {(kSdkDir / "log_spans.mjs").string()}, env);
  const auto code = node.wait_exit(120s);
  ProgramRun run;
  EXPECT_EQ(code, 0) << node.stderr_text();
  if (code != 0) return run;
  const json::object out = json::parse(node.stdout_text()).as_object();
  run.project_id = std::string(out.at("project_id").as_string());
  for (const auto& [key, id] : out.at("ids").as_object())
    run.ids[std::string(key)] = std::string(id.as_string());
  run.flush_ms = out.at("flush_ms").to_number<double>();
  return run;
}

// A stored row without what differs between two runs of the same program: ids, times and
// the span's counter.
json::object comparable(json::object row) {
  for (const char* key : {"id", "span_id", "root_span_id", "span_parents", "created", "_xact_id"})
    row.erase(key);
  if (auto* metrics = row.if_contains("metrics"); metrics != nullptr && metrics->is_object()) {
    metrics->as_object().erase("start");
    metrics->as_object().erase("end");
  }
  if (auto* attributes = row.if_contains("span_attributes");
      attributes != nullptr && attributes->is_object()) {
    attributes->as_object().erase("exec_counter");
  }
  return row;
}

bool all_arrived(const FakeApi& api, const ProgramRun& run) {
  for (const auto& [key, id] : run.ids) {
    if (!api.row("project_logs", run.project_id, id)) return false;
  }
  return true;
}

RunningDaemon start_daemon(const FakeApi& api) {
  return launch_daemon(
      kDaemon,
      {"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=127.0.0.1:0",
       "--admin.listen=127.0.0.1:0", "--batch.linger_ms=20"},
      api.base_url(), kApiKey);
}

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

TEST(SdkEndToEnd, SpansArriveMergedAsTheSdksDirectUploadLeavesThem) {
  REQUIRE_SDK();
  constexpr int kSpans = 40;
  FakeApi direct_api(fake_config());
  const ProgramRun direct = run_program(direct_api.base_url(), "", kSpans, "sdk-e2e");
  ASSERT_EQ(direct.ids.size(), 2u * kSpans);
  ASSERT_TRUE(wait_until([&] { return all_arrived(direct_api, direct); }));

  FakeApi api(fake_config());
  RunningDaemon d = start_daemon(api);
  const ProgramRun via = run_program(api.base_url(), d.http, kSpans, "sdk-e2e");
  ASSERT_EQ(via.ids.size(), 2u * kSpans);
  ASSERT_TRUE(wait_until([&] { return all_arrived(api, via); }))
      << api.stats_json() << d.process->stderr_text();

  for (const auto& [key, id] : via.ids) {
    const auto through = api.row("project_logs", via.project_id, id);
    const auto reference = direct_api.row("project_logs", direct.project_id, direct.ids.at(key));
    ASSERT_TRUE(through && reference) << key;
    EXPECT_EQ(json::value(comparable(*through)), json::value(comparable(*reference)))
        << key << "\nthrough spanlined: " << json::serialize(*through)
        << "\ndirect: " << json::serialize(*reference);
  }
  // Every row went upstream through the documented insert endpoint (spanlined also reads
  // the API's /version for its payload limit).
  for (const auto& request : api.request_log()) {
    if (request.method == "GET" && request.target == "/version") continue;
    EXPECT_EQ(request.method + " " + request.target, "POST /v1/project_logs/" + via.project_id + "/insert");
  }
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(SdkEndToEnd, ThroughA429StormNoSpanIsLostAndFlushReturns) {
  REQUIRE_SDK();
  constexpr int kSpans = 150;
  ServerConfig config = fake_config();
  config.faults.fail_429 = 0.3;
  config.faults.retry_after_s = 1;
  FakeApi api(config);
  RunningDaemon d = start_daemon(api);
  const ProgramRun run = run_program(api.base_url(), d.http, kSpans, "sdk-storm");
  ASSERT_EQ(run.ids.size(), 2u * kSpans);
  ASSERT_TRUE(wait_until([&] { return all_arrived(api, run); }, 120s)) << api.stats_json();
  EXPECT_GT(api.stats().requests[429], 0u) << "the storm did not happen";
  // spanlined answers once rows are queued, so the program's flush does not wait out the
  // storm (the SDK's own retries would take seconds). A liveness bound, not a speed claim.
  EXPECT_LT(run.flush_ms, 10'000) << "flush() waited for the upstream";
  RecordProperty("flush_ms", std::to_string(run.flush_ms));
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(SdkEndToEnd, DurablyAcknowledgedSpansSurviveKill9) {
  REQUIRE_SDK();
  constexpr int kSpans = 60;
  ServerConfig config = fake_config();
  // The upstream is down while the program logs (the app routes are never faulted), so every
  // acknowledged row can only be in the spool when the daemon is killed.
  config.faults.outage_start_s = 0;
  config.faults.outage_duration_s = 24 * 3600;
  FakeApi api(config);
  TempDir dir;
  const std::vector<std::string> args = {
      "--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=127.0.0.1:0",
      "--admin.listen=off",    "--ingest.ack=durable",       "--spool.dir=" + dir.file("spool")};
  RunningDaemon first = launch_daemon(kDaemon, args, api.base_url(), kApiKey);
  const ProgramRun run = run_program(api.base_url(), first.http, kSpans, "sdk-durable");
  ASSERT_EQ(run.ids.size(), 2u * kSpans);
  first.process->signal(SIGKILL);
  ASSERT_TRUE(first.process->wait_exit(30s));
  EXPECT_EQ(api.stats().unique_rows, 0u) << "the outage let rows through";

  api.set_faults({});
  RunningDaemon second = launch_daemon(kDaemon, args, api.base_url(), kApiKey);
  ASSERT_TRUE(wait_until([&] { return all_arrived(api, run); }, 60s))
      << api.stats_json() << second.process->stderr_text();
  second.process->signal(SIGTERM);
  EXPECT_EQ(second.process->wait_exit(60s), 0);
}

}  // namespace
}  // namespace spanline::testing
