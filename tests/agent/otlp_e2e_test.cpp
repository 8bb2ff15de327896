// The OTLP trace receiver end to end: the real spanlined binary, the fake Braintrust API,
// and (OtlpEndToEnd) the official OpenTelemetry JS SDK's exporters as the client.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"
#include "proto/otlp_trace.pb.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace spanline::testing {
namespace {

namespace http = boost::beast::http;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace pb = spanline::otlp::v1;

const std::string kApiKey = "sk-otlp-e2e-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";
const std::filesystem::path kOtelDir = SPANLINE_OTEL_DIR;

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

RunningDaemon start_daemon(const FakeApi& api, const TempDir& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {
      "--ingest.uds_path=" + dir.file("s.sock"), "--ingest.datagram_path=" + dir.file("d.sock"),
      "--ingest.http_listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0", "--batch.linger_ms=5"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

void stop_daemon(RunningDaemon& d) {
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(120s), 0) << d.process->stderr_text();
}

struct Answer {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
};

Answer post(const std::string& url, const std::string& target, const std::string& body,
            const std::map<std::string, std::string>& headers) {
  const std::string rest = url.substr(url.find("//") + 2);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::asio::ip::tcp::resolver resolver(io);
  boost::asio::connect(socket,
                       resolver.resolve(rest.substr(0, rest.rfind(':')), rest.substr(rest.rfind(':') + 1)));
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::authorization, std::string("Bearer ") + kApiKey);  // as an exporter configured with it
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()), response.body(),
          std::string(response[http::field::content_type]), std::string(response[http::field::retry_after])};
}

std::string find_node() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/usr/local/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const auto candidate = std::filesystem::path(dir) / "node";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

// ---- the OpenTelemetry JS SDK as the client -------------------------------------------------

struct ExportedSpan {
  std::string trace_id, span_id, name;
};

// Runs tests/otel/export_trace.mjs: 3 spans, exported twice as protobuf (gzip) and twice as JSON.
std::vector<ExportedSpan> run_sdk(const std::string& endpoint, const std::string& parent) {
  const std::string node = find_node();
  ChildProcess sdk(node, {(kOtelDir / "export_trace.mjs").string(), endpoint, parent},
                   {{"SPANLINE_OTLP_TOKEN", kApiKey}});
  const auto code = sdk.wait_exit(120s);
  EXPECT_EQ(code, 0) << sdk.stdout_text() << sdk.stderr_text();
  std::vector<ExportedSpan> spans;
  const std::string out = sdk.stdout_text();
  static const std::regex line(R"(span ([0-9a-f]{32}) ([0-9a-f]{16}) (.+)\n)");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it)
    spans.push_back({(*it)[1], (*it)[2], (*it)[3]});
  EXPECT_EQ(spans.size(), 3u) << out;
  return spans;
}

bool sdk_installed() { return std::filesystem::exists(kOtelDir / "node_modules" / "@opentelemetry"); }

#define REQUIRE_SDK()                                                                                   \
  do {                                                                                                  \
    if (find_node().empty() || !sdk_installed()) {                                                      \
      if (in_ci()) FAIL() << "node or tests/otel/node_modules missing: run tests/otel/install.sh (CI)"; \
      GTEST_SKIP() << "node or tests/otel/node_modules missing: run tests/otel/install.sh";             \
    }                                                                                                   \
  } while (0)

const ExportedSpan& named(const std::vector<ExportedSpan>& spans, std::string_view prefix) {
  for (const auto& span : spans) {
    if (span.name.rfind(prefix, 0) == 0) return span;
  }
  throw std::runtime_error("no span named " + std::string(prefix));
}

TEST(OtlpEndToEnd, OpenTelemetryJsSdkSpansBecomeBraintrustRows) {
  REQUIRE_SDK();
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--destination.project_id=default-proj"});
  const auto spans = run_sdk(d.http + "/v1/traces", "project_id:otel-proj");
  ASSERT_EQ(spans.size(), 3u);
  ASSERT_TRUE(wait_until([&] { return api.row_count("project_logs", "otel-proj") >= 3; }))
      << api.stats_json() << d.process->stderr_text();

  const auto metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(metrics.value("spanline_otlp_requests_total", {{"encoding", "protobuf"}}), 2);
  EXPECT_EQ(metrics.value("spanline_otlp_requests_total", {{"encoding", "json"}}), 2);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_received_total"), 12);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_queued_total"), 12);
  EXPECT_EQ(metrics.sum("spanline_otlp_spans_rejected_total"), 0);
  stop_daemon(d);

  // Four exports of the same three spans: three rows, each overwritten by its retries.
  EXPECT_EQ(api.row_count("project_logs", "otel-proj"), 3u);
  EXPECT_EQ(api.row_count("project_logs", "default-proj"), 0u);
  const ExportedSpan& llm = named(spans, "chat");
  const ExportedSpan& tool = named(spans, "execute_tool");
  const ExportedSpan& step = named(spans, "format");
  auto row_of = [&](const ExportedSpan& span) {
    auto row = api.row("project_logs", "otel-proj", span.trace_id + "-" + span.span_id);
    if (!row) throw std::runtime_error("no row for span " + span.name);
    return *row;
  };
  const boost::json::object parent = row_of(llm);
  EXPECT_EQ(parent.at("span_id"), llm.span_id.c_str());
  EXPECT_EQ(parent.at("root_span_id"), llm.trace_id.c_str());
  EXPECT_FALSE(parent.contains("span_parents"));
  EXPECT_EQ(parent.at("span_attributes").at("name"), "chat gpt-4o-mini");
  EXPECT_EQ(parent.at("span_attributes").at("type"), "llm");
  EXPECT_EQ(boost::json::serialize(parent.at("input")), R"([{"role":"user","content":"Weather in Paris?"}])");
  EXPECT_EQ(boost::json::serialize(parent.at("output")),
            R"([{"role":"assistant","content":"Sunny, 21 C."}])");
  EXPECT_EQ(parent.at("metrics").at("prompt_tokens"), 14);
  EXPECT_EQ(parent.at("metrics").at("completion_tokens"), 6);
  EXPECT_LE(parent.at("metrics").at("start").to_number<double>(),
            parent.at("metrics").at("end").to_number<double>());
  EXPECT_EQ(parent.at("metadata").at("model"), "gpt-4o-mini");
  EXPECT_EQ(parent.at("metadata").at("temperature"), 0.2);
  EXPECT_EQ(parent.at("metadata").at("app.user"), "u-42");
  EXPECT_TRUE(parent.at("metadata").as_object().contains("resource.service.name"));
  EXPECT_EQ(boost::json::serialize(parent.at("tags")), R"(["e2e"])");

  const boost::json::object tool_row = row_of(tool);
  EXPECT_EQ(tool_row.at("root_span_id"), llm.trace_id.c_str());
  EXPECT_EQ(boost::json::serialize(tool_row.at("span_parents")), "[\"" + llm.span_id + "\"]");
  EXPECT_EQ(tool_row.at("span_attributes").at("type"), "tool");
  EXPECT_EQ(tool_row.at("error"), "weather service timed out");
  EXPECT_EQ(tool_row.at("metadata").at("gen_ai.tool.name"), "get_weather");

  const boost::json::object step_row = row_of(step);
  EXPECT_EQ(boost::json::serialize(step_row.at("span_parents")), "[\"" + llm.span_id + "\"]");
  EXPECT_EQ(boost::json::serialize(step_row.at("output")), R"({"text":"Sunny, 21 C."})");
  EXPECT_FALSE(step_row.contains("error"));
}

TEST(OtlpEndToEnd, BraintrustPathAndDefaultDestination) {
  REQUIRE_SDK();
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--destination.project_id=default-proj"});
  const auto spans = run_sdk(d.http + "/otel/v1/traces", "");
  ASSERT_EQ(spans.size(), 3u);
  ASSERT_TRUE(wait_until([&] { return api.row_count("project_logs", "default-proj") >= 3; }))
      << api.stats_json() << d.process->stderr_text();
  stop_daemon(d);
  EXPECT_EQ(api.row_count("project_logs", "default-proj"), 3u);
}

// ---- the route's answers, with hand-made requests ---------------------------------------------

std::string protobuf_body(int spans, bool one_invalid) {
  pb::ExportTraceServiceRequest request;
  auto* scope = request.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* span = scope->add_spans();
    span->set_trace_id(std::string(15, '\x11') + "\x01");
    span->set_span_id(std::string(7, '\x22') + static_cast<char>(i + 1));
    span->set_name("span " + std::to_string(i));
    span->set_start_time_unix_nano(1'700'000'000'000'000'000u);
    span->set_end_time_unix_nano(one_invalid && i == 1 ? 1 : 1'700'000'001'000'000'000u);
  }
  return request.SerializeAsString();
}

TEST(OtlpHttp, PartialSuccessNamesRefusedSpansAndDeliversTheRest) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--destination.project_id=default-proj"});
  const Answer answer =
      post(d.http, "/v1/traces", protobuf_body(3, true),
           {{"Content-Type", "application/x-protobuf"}, {"x-bt-parent", "experiment_id:exp-7"}});
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "application/x-protobuf");
  pb::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(answer.body));
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  EXPECT_NE(response.partial_success().error_message().find("end_before_start"), std::string::npos)
      << response.partial_success().error_message();
  ASSERT_TRUE(wait_until([&] { return api.row_count("experiment", "exp-7") >= 2; })) << api.stats_json();
  const auto metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_rejected_total", {{"reason", "end_before_start"}}), 1);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_queued_total"), 2);
  stop_daemon(d);
  EXPECT_EQ(api.row_count("experiment", "exp-7"), 2u);
}

TEST(OtlpHttp, BadRequestsAreRefusedWholeInTheirEncoding) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);  // no default destination
  const std::map<std::string, std::string> json = {{"Content-Type", "application/json; charset=utf-8"},
                                                   {"x-bt-parent", "project_name:otel project"}};
  Answer answer = post(d.http, "/v1/traces", R"({"resourceSpans": {}})", json);
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(answer.content_type, "application/json");
  EXPECT_NE(answer.body.find("resourceSpans: expected an array"), std::string::npos) << answer.body;

  answer = post(d.http, "/v1/traces", "\x0a\xff\xff\xff\xff\x7f",
                {{"Content-Type", "application/x-protobuf"}, {"x-bt-parent", "project_id:p"}});
  EXPECT_EQ(answer.status, 400);
  pb::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(answer.body));
  EXPECT_EQ(status.code(), 3);

  answer = post(d.http, "/v1/traces", "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(answer.status, 415);
  answer = post(d.http, "/v1/traces", "{}", {{"Content-Type", "application/json"}, {"x-bt-parent", "bogus"}});
  EXPECT_EQ(answer.status, 400);
  EXPECT_NE(answer.body.find("x-bt-parent"), std::string::npos);
  answer = post(d.http, "/v1/traces", "{}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(answer.status, 400);
  EXPECT_NE(answer.body.find("no destination"), std::string::npos);
  answer = post(
      d.http, "/v1/traces", "{}",
      {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}, {"x-bt-parent", "project_id:p"}});
  EXPECT_EQ(answer.status, 400);  // not gzip data

  // A valid empty export is a full success.
  answer = post(d.http, "/otel/v1/traces", "{}", json);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, "{}");
  const auto metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(metrics.value("spanline_otlp_requests_invalid_total"), 6);
  stop_daemon(d);
}

// ingest.ack = "durable": 200 once the spans are in the spool; partial_success still names
// the refused ones.
TEST(OtlpHttp, DurableAckAnswersOnceTheSpansAreInTheSpool) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--spool.dir=" + dir.file("spool"), "--ingest.ack=durable"});
  const Answer answer =
      post(d.http, "/v1/traces", protobuf_body(3, true),
           {{"Content-Type", "application/x-protobuf"}, {"x-bt-parent", "project_id:durable-proj"}});
  ASSERT_EQ(answer.status, 200) << answer.body;
  pb::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(answer.body));
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  const auto metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_queued_total"), 2);
  EXPECT_GE(metrics.value("spanline_spool_records_written_total").value_or(0), 1);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "200"}}), 1);
  ASSERT_TRUE(wait_until([&] { return api.row_count("project_logs", "durable-proj") >= 2; }))
      << api.stats_json();
  stop_daemon(d);
  EXPECT_EQ(api.row_count("project_logs", "durable-proj"), 2u);
}

TEST(OtlpHttp, FullBudgetAnswers429WithRetryAfterAndTheRetryDelivers) {
  ServerConfig config = fake_config();
  config.faults.fail_5xx = 1.0;  // an outage: accepted rows stay in the budget
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir,
                                 {"--queue.max_bytes=65536", "--queue.block_timeout_ms=300",
                                  "--retry.base_delay_ms=20", "--retry.max_delay_ms=100"});
  auto one_span = [](int i) {
    pb::ExportTraceServiceRequest request;
    auto* span = request.add_resource_spans()->add_scope_spans()->add_spans();
    span->set_trace_id(std::string(15, '\x11') + "\x01");
    span->set_span_id(std::string(6, '\x22') + static_cast<char>(1 + i / 200) +
                      static_cast<char>(1 + i % 200));
    span->set_name("big");
    span->set_start_time_unix_nano(1'700'000'000'000'000'000u);
    auto* kv = span->add_attributes();
    kv->set_key("gen_ai.prompt");
    kv->mutable_value()->set_string_value(std::string(4000, 'p'));
    return request.SerializeAsString();
  };
  const std::map<std::string, std::string> headers = {{"Content-Type", "application/x-protobuf"},
                                                      {"x-bt-parent", "project_id:budget-proj"}};
  int accepted = 0;
  Answer full;
  int i = 0;
  for (; i < 100 && full.status != 429; ++i) {
    full = post(d.http, "/v1/traces", one_span(i), headers);
    if (full.status == 200) ++accepted;
  }
  ASSERT_EQ(full.status, 429) << "64 KiB never filled up";
  EXPECT_EQ(full.retry_after, "1");
  pb::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(full.body));
  EXPECT_NE(status.message().find("memory budget full"), std::string::npos) << status.message();
  const auto metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_not_queued_total"), 1);
  EXPECT_EQ(metrics.value("spanline_otlp_spans_queued_total"), accepted);

  // The outage ends: the accepted spans arrive, and the refused one does once retried.
  api.set_faults({});
  ASSERT_TRUE(wait_until([&] {
    return api.row_count("project_logs", "budget-proj") >= static_cast<std::size_t>(accepted);
  })) << api.stats_json();
  Answer retry;
  ASSERT_TRUE(wait_until(
      [&] { return (retry = post(d.http, "/v1/traces", one_span(i - 1), headers)).status == 200; }));
  stop_daemon(d);
  EXPECT_EQ(api.row_count("project_logs", "budget-proj"), static_cast<std::size_t>(accepted) + 1);
}

}  // namespace
}  // namespace spanline::testing
