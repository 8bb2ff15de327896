// POST /logs3 end to end: the real spanlined binary, rows as the official SDKs send them,
// delivered to the fake API's insert endpoints.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "codec/codec.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace spanline::testing {
namespace {

using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace http = boost::beast::http;

const std::string kApiKey = "sk-logs3-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

RunningDaemon start(const FakeApi& api, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--ingest.uds_path=off", "--ingest.datagram_path=off",
                                   "--ingest.http_listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0",
                                   "--batch.linger_ms=5"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

std::string logs3_body(const std::vector<std::string>& rows) {
  std::string body = R"({"rows": [)";
  for (std::size_t i = 0; i < rows.size(); ++i) body += (i ? "," : "") + rows[i];
  return body + R"(], "api_version": 2})";
}

std::string reason_of(const HttpAnswer& answer) {
  try {
    return std::string(boost::json::parse(answer.body).at("error").at("reason").as_string());
  } catch (const std::exception&) {
    return "(no reason in '" + answer.body + "')";
  }
}

TEST(DaemonLogs3, RoutesRowsToTheirObjectsKeepingEveryOtherField) {
  FakeApi api(fake_config());
  RunningDaemon d = start(api);

  const auto version = d.get("/version");
  ASSERT_EQ(version.status, 200);
  EXPECT_EQ(boost::json::parse(version.body).at("logs3_payload_max_bytes").as_int64(), 16 << 20);

  const std::string body = logs3_body({
      R"({"id":"log-1","project_id":"proj-a","log_id":"g","span_id":"s1","root_span_id":"s1","input":{"q":"hi"},"metadata":{"k":"v"},"created":"2026-12-07T20:00:00.000Z","_is_merge":false})",
      R"({"id":"exp-1","experiment_id":"exp-a","span_id":"s2","root_span_id":"s2","span_parents":[],"scores":{"acc":0.5},"metrics":{"start":1.5}})",
      R"({"id":"ds-1","dataset_id":"ds-a","input":"x","expected":"y","tags":["t"]})",
  });
  const auto answer = d.post("/logs3", body);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(boost::json::parse(answer.body).at("row_ids"), boost::json::parse(R"(["log-1","exp-1","ds-1"])"));

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 3; })) << api.stats_json();
  const auto log = api.row("project_logs", "proj-a", "log-1");
  ASSERT_TRUE(log);
  EXPECT_EQ(log->at("input"), boost::json::parse(R"({"q":"hi"})"));
  EXPECT_EQ(log->at("metadata"), boost::json::parse(R"({"k":"v"})"));
  EXPECT_EQ(log->at("span_id"), "s1");
  EXPECT_EQ(log->at("created"), "2026-12-07T20:00:00.000Z");
  EXPECT_FALSE(log->contains("project_id")) << "routing keys the URL carries are stripped";
  EXPECT_FALSE(log->contains("log_id"));
  const auto exp = api.row("experiment", "exp-a", "exp-1");
  ASSERT_TRUE(exp);
  EXPECT_EQ(exp->at("scores"), boost::json::parse(R"({"acc":0.5})"));
  EXPECT_EQ(exp->at("span_parents"), boost::json::array());
  EXPECT_FALSE(exp->contains("experiment_id"));
  const auto ds = api.row("dataset", "ds-a", "ds-1");
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->at("expected"), "y");
  EXPECT_FALSE(ds->contains("dataset_id"));

  // A gzip body is decoded first (request_body.hpp).
  const std::string gz =
      detail::compress(Compression::gzip, logs3_body({R"({"id":"gz-1","experiment_id":"exp-a"})"}));
  auto headers = d.bearer();
  headers["Content-Encoding"] = "gzip";
  EXPECT_EQ(http_request(d.http, http::verb::post, "/logs3", gz, headers).status, 200);
  ASSERT_TRUE(wait_until([&] { return api.row("experiment", "exp-a", "gz-1").has_value(); }));

  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(DaemonLogs3, InvalidBodyRefusedWholeNamingTheRowAndNothingQueued) {
  FakeApi api(fake_config());
  RunningDaemon d = start(api);
  const auto refused = d.post(
      "/logs3", logs3_body({R"({"id":"fine","experiment_id":"e"})", R"({"id":"no-object","input":1})"}));
  ASSERT_EQ(refused.status, 400);
  const auto error = boost::json::parse(refused.body).at("error").as_object();
  EXPECT_EQ(error.at("row_index").as_int64(), 1);
  EXPECT_EQ(error.at("reason").as_string(), "no_destination");
  EXPECT_EQ(d.post("/logs3", R"({"rows":[],"api_version":1})").status, 400);
  EXPECT_EQ(d.post("/logs3", "not json").status, 400);

  const auto overflow =
      d.post("/logs3/overflow", R"({"content_type":"application/json","size_bytes":99,"rows":[]})");
  EXPECT_EQ(overflow.status, 413);
  EXPECT_EQ(reason_of(overflow), "overflow_not_supported");
  EXPECT_EQ(d.get("/logs3").status, 405);
  const auto plain = http_request(d.http, http::verb::post, "/logs3", logs3_body({}),
                                  {{"Authorization", "Bearer " + kApiKey}, {"Content-Type", "text/plain"}});
  EXPECT_EQ(plain.status, 415);
  const auto anonymous = http_request(d.http, http::verb::post, "/logs3", logs3_body({}), {});
  EXPECT_EQ(anonymous.status, 401);

  // Something delivered afterwards proves the refused row had every chance to arrive.
  EXPECT_EQ(d.post("/logs3", logs3_body({R"({"id":"after","experiment_id":"e"})"})).status, 200);
  ASSERT_TRUE(wait_until([&] { return api.row("experiment", "e", "after").has_value(); }));
  EXPECT_FALSE(api.row("experiment", "e", "fine")) << "part of a refused body was queued";

  const PromText metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(
      metrics.value("spanline_ingest_invalid_total", {{"listener", "http"}, {"reason", "no_destination"}}),
      1);
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(DaemonLogs3, DurableAckAnswersAfterTheSpoolHasTheRows) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start(api, {"--ingest.ack=durable", "--spool.dir=" + dir.file("spool")});
  const auto answer = d.post("/logs3", logs3_body({R"({"id":"d-1","project_id":"p","log_id":"g","input":1})",
                                                   R"({"id":"d-2","dataset_id":"ds","input":2})"}));
  ASSERT_EQ(answer.status, 200) << answer.body;
  const PromText metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_GE(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}), 2)
      << d.process->stderr_text();
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 2; })) << api.stats_json();
  EXPECT_TRUE(api.row("project_logs", "p", "d-1"));
  EXPECT_TRUE(api.row("dataset", "ds", "d-2"));
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

}  // namespace
}  // namespace spanline::testing
