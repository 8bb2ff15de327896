// The HTTP ingest's authentication, end to end: the real spanlined binary, its settings
// (ingest.tokens, ingest.token_file, ingest.allowed_origins), its answers and /metrics.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "daemon_config.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>

namespace spanline::testing {
namespace {

using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace http = boost::beast::http;

const std::string kApiKey = "sk-auth-test-key-0123456789";
const std::string kSettingToken = "setting-token-0123456789abcdef";
const std::string kFileToken = "file-token-0123456789abcdef";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";
const std::string kInsert = "/v1/project_logs/auth-proj/insert";

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

HttpAnswer post(const RunningDaemon& d, const std::string& body, std::map<std::string, std::string> headers) {
  return http_request(d.http, http::verb::post, kInsert, body, headers);
}

std::string reason_of(const HttpAnswer& answer) {
  try {
    return std::string(boost::json::parse(answer.body).at("error").at("reason").as_string());
  } catch (const std::exception&) {
    return "(no reason in '" + answer.body + "')";
  }
}

TEST(DaemonAuth, EveryRefusalAnsweredCountedAndNothingQueued) {
  FakeApi api(fake_config());
  TempDir dir;
  std::ofstream(dir.file("tokens")) << "# one per line\n" << kFileToken << "\n";
  RunningDaemon d =
      launch_daemon(kDaemon,
                    {"--ingest.uds_path=off", "--ingest.datagram_path=off",
                     "--ingest.http_listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0",
                     "--ingest.tokens=" + kSettingToken, "--ingest.token_file=" + dir.file("tokens"),
                     "--ingest.allowed_origins=https://app.example.com", "--batch.linger_ms=5"},
                    api.base_url(), kApiKey);
  const std::string body = R"({"events":[{"id":"refused"}]})";
  const auto none = post(d, body, {});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(reason_of(none), "missing_credentials");
  const auto wrong = post(d, body, {{"Authorization", "Bearer " + kApiKey + "-not"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(reason_of(wrong), "bad_credentials");
  // The cross-site request of the report: text/plain, a foreign Origin and Host.
  const auto browser = post(d, body,
                            {{"Origin", "http://evil.example"},
                             {"Host", "evil.example"},
                             {"Content-Type", "text/plain"},
                             {"Authorization", "Bearer " + kApiKey}});
  EXPECT_EQ(browser.status, 403);
  EXPECT_EQ(reason_of(browser), "origin_not_allowed");
  const auto plain = post(d, body, {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + kApiKey}});
  EXPECT_EQ(plain.status, 415);
  EXPECT_EQ(reason_of(plain), "bad_content_type");
  EXPECT_EQ(http_get(d.http, "/version").status, 401) << "every route needs the token";

  // Each accepted credential, and an allowed browser origin.
  int accepted = 0;
  for (const std::string& token : {kApiKey, kSettingToken, kFileToken}) {
    const auto answer = post(d, R"({"events":[{"id":"ok-)" + std::to_string(accepted++) + "\"}]}",
                             {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(answer.status, 200) << answer.body;
  }
  const auto allowed =
      post(d, R"({"events":[{"id":"ok-)" + std::to_string(accepted++) + "\"}]}",
           {{"Authorization", "Bearer " + kSettingToken}, {"Origin", "https://app.example.com"}});
  EXPECT_EQ(allowed.status, 200) << allowed.body;
  EXPECT_EQ(d.get("/version").status, 200);

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 4; })) << api.stats_json();
  EXPECT_FALSE(api.row("project_logs", "auth-proj", "refused")) << "a refused request was queued";

  const PromText metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  for (const auto& e : metrics.errors) ADD_FAILURE() << e;
  const std::string name = "spanline_http_ingest_auth_refused_total";
  EXPECT_EQ(metrics.value(name, {{"reason", "missing_credentials"}}), 2);
  EXPECT_EQ(metrics.value(name, {{"reason", "bad_credentials"}}), 1);
  EXPECT_EQ(metrics.value(name, {{"reason", "origin_not_allowed"}}), 1);
  EXPECT_EQ(metrics.value(name, {{"reason", "bad_content_type"}}), 1);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "401"}}), 3);

  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
  for (const std::string& secret : {kApiKey, kSettingToken, kFileToken}) {
    EXPECT_EQ(d.process->stderr_text().find(secret), std::string::npos) << "a token reached the log";
  }
}

int run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            std::string* err) {
  ChildProcess p(kDaemon, args, env);
  const auto code = p.wait_exit(60s);
  if (err) *err = p.stderr_text();
  return code.value_or(-1);
}

TEST(DaemonAuth, RefusesAnUnauthenticatedIngestOnTheNetwork) {
  // Refused before anything is bound, so nothing listens beyond loopback even for a moment.
  std::string err;
  EXPECT_EQ(run_cli({"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=0.0.0.0:0",
                     "--admin.listen=off"},
                    {}, &err),
            2);
  EXPECT_NE(err.find("unauthenticated"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=off",
                     "--ingest.tcp_listen=0.0.0.0:0", "--admin.listen=off"},
                    {{"BRAINTRUST_API_KEY", kApiKey}}, &err),
            2);
  EXPECT_NE(err.find("ingest.tcp_listen"), std::string::npos) << err;
  EXPECT_EQ(err.find(kApiKey), std::string::npos);
}

TEST(DaemonAuthConfig, TokensAndOriginsSettings) {
  TempDir dir;
  const std::string path = dir.file("c.toml");
  std::ofstream(path) << "[ingest]\ntokens = [\"" << kSettingToken << "\", \"" << kFileToken
                      << "\"]\nallowed_origins = \"https://a.example, http://localhost:3000\"\n";
  agent::CommandLine cli;
  cli.config_file = path;
  const agent::EnvLookup no_env = [](const char*) -> const char* { return nullptr; };
  const agent::DaemonConfig config = agent::load_config(cli, no_env);
  EXPECT_EQ(config.ingest.tokens, (std::vector<std::string>{kSettingToken, kFileToken}));
  EXPECT_EQ(config.ingest.allowed_origins,
            (std::vector<std::string>{"https://a.example", "http://localhost:3000"}));
  const std::string printed = agent::print_config(config);
  EXPECT_EQ(printed.find(kSettingToken), std::string::npos) << printed;
  EXPECT_NE(printed.find("tokens = \"<redacted>\""), std::string::npos) << printed;

  agent::CommandLine bad;
  bad.settings = {{"ingest.tokens", "short secret"}};
  try {
    (void)agent::load_config(bad, no_env);
    ADD_FAILURE() << "a token with a space was accepted";
  } catch (const agent::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("short secret"), std::string::npos) << e.what();
  }
  bad.settings = {{"ingest.allowed_origins", "https://a.example/path"}};
  EXPECT_THROW((void)agent::load_config(bad, no_env), agent::ConfigError);
}

}  // namespace
}  // namespace spanline::testing
