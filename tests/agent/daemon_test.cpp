// End-to-end tests: the real spanlined binary as a child process, feeding the in-process
// fake Braintrust API over loopback.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <fstream>
#include <set>

namespace spanline::testing {
namespace {

namespace asio = boost::asio;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;

const std::string kApiKey = "sk-e2e-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

RunningDaemon start_daemon(const FakeApi& api, const TempDir& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--ingest.uds_path=" + dir.file("s.sock"),
                                   "--ingest.datagram_path=" + dir.file("d.sock"),
                                   "--ingest.tcp_listen=127.0.0.1:0",
                                   "--ingest.http_listen=127.0.0.1:0",
                                   "--admin.listen=127.0.0.1:0",
                                   "--destination.project_id=default-proj",
                                   "--batch.linger_ms=5"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

void send_uds(const std::string& path, const std::string& data) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  socket.connect(asio::local::stream_protocol::endpoint(path));
  asio::write(socket, asio::buffer(data));
}

void send_tcp(const std::string& address, const std::string& data) {
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  const auto colon = address.rfind(':');
  socket.connect({asio::ip::make_address(address.substr(0, colon)),
                  static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))});
  asio::write(socket, asio::buffer(data));
}

void send_datagram(const std::string& path, const std::string& data) {
  asio::io_context io;
  asio::local::datagram_protocol::socket socket(io);
  socket.open();
  socket.send_to(asio::buffer(data), asio::local::datagram_protocol::endpoint(path));
}

PromText scrape(const RunningDaemon& d) {
  const auto answer = http_get(d.admin, "/metrics");
  EXPECT_EQ(answer.status, 200);
  return parse_prometheus(answer.body);
}

// Stops the daemon with SIGTERM and returns its "stopped" summary numbers.
std::map<std::string, std::uint64_t> stop_daemon(RunningDaemon& d) {
  d.process->signal(SIGTERM);
  const auto code = d.process->wait_exit(120s);
  EXPECT_EQ(code, 0) << d.process->stderr_text();
  std::map<std::string, std::uint64_t> out;
  std::smatch m;
  const std::string text = d.process->stdout_text();
  if (!std::regex_search(text, m, std::regex(R"(spanlined stopped: (.*)\n)"))) {
    ADD_FAILURE() << "no stopped line: " << text;
    return out;
  }
  const std::string summary = m[1];
  static const std::regex pair(R"((\w+)=(\d+))");
  for (std::sregex_iterator it(summary.begin(), summary.end(), pair), end; it != end; ++it) {
    out[(*it)[1]] = std::stoull((*it)[2]);
  }
  EXPECT_EQ(d.process->stderr_text().find(kApiKey), std::string::npos) << "the API key reached the log";
  EXPECT_EQ(d.process->stdout_text().find(kApiKey), std::string::npos) << "the API key reached stdout";
  return out;
}

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

TEST(DaemonEndToEnd, EveryListenerDeliversExactlyOnceWithRouting) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);

  struct Expect {
    std::string kind, object, id;
    bool by_name = false;
  };
  std::vector<Expect> expected;
  auto make_lines = [&](const std::string& listener, int count) {
    std::string lines;
    for (int i = 0; i < count; ++i) {
      const std::string id = listener + "-" + std::to_string(i);
      std::string route;
      Expect e{"project_logs", "default-proj", id};
      switch (i % 5) {
        case 1:
          route = R"("project_id":"routed-proj",)";
          e.object = "routed-proj";
          break;
        case 2:
          route = R"("experiment_id":"exp-1",)";
          e.kind = "experiment";
          e.object = "exp-1";
          break;
        case 3:
          route = R"("dataset_id":"ds-1",)";
          e.kind = "dataset";
          e.object = "ds-1";
          break;
        case 4:
          route = R"("project_name":"named project",)";
          e.by_name = true;
          break;
        default:
          break;
      }
      lines += "{" + route + R"("id":")" + id + R"(","input":{"messages":[{"role":"user","content":"hi )" +
               std::to_string(i) + R"("}]},"metadata":{"listener":")" + listener + "\"}}\n";
      expected.push_back(e);
    }
    return lines;
  };
  send_uds(d.uds, make_lines("uds", 40));
  send_tcp(d.tcp, make_lines("tcp", 40));
  // Datagrams: one event per datagram, and several lines in one.
  const std::string dgram_lines = make_lines("dgram", 20);
  std::size_t pos = 0;
  int n = 0;
  while (pos < dgram_lines.size()) {
    const std::size_t end = dgram_lines.find('\n', pos);
    std::string chunk = dgram_lines.substr(pos, end - pos + 1);
    if (n++ % 2 == 0 && end + 1 < dgram_lines.size()) {  // pair two lines into one datagram
      const std::size_t next = dgram_lines.find('\n', end + 1);
      chunk = dgram_lines.substr(pos, next - pos + 1);
      pos = next + 1;
    } else {
      pos = end + 1;
    }
    send_datagram(d.datagram, chunk);
  }
  // HTTP: the Braintrust insert shape; the URL decides the destination.
  std::string body = R"({"events":[)";
  for (int i = 0; i < 20; ++i) {
    if (i) body += ',';
    body += R"({"id":"http-)" + std::to_string(i) + R"(","output":"x"})";
    expected.push_back({"experiment", "http-exp", "http-" + std::to_string(i)});
  }
  body += "]}";
  const auto answer = d.post("/v1/experiment/http-exp/insert", body);
  ASSERT_EQ(answer.status, 200) << answer.body;
  const auto row_ids = boost::json::parse(answer.body).at("row_ids").as_array();
  ASSERT_EQ(row_ids.size(), 20u);
  EXPECT_EQ(row_ids[3].as_string(), "http-3");

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= expected.size(); }))
      << api.stats_json() << d.process->stderr_text();
  const auto named = api.project_id("named project");
  ASSERT_FALSE(named.empty());
  for (const auto& e : expected) {
    const auto row = api.row(e.kind, e.by_name ? named : e.object, e.id);
    ASSERT_TRUE(row) << e.kind << "/" << e.object << "/" << e.id;
    for (const char* key : {"project_id", "experiment_id", "dataset_id", "project_name"}) {
      // Routing keys are removed from the row (the fake may only add its own object id field).
      if (row->contains(key) && row->at(key).is_string()) {
        EXPECT_NE(row->at(key).as_string(), "routed-proj") << e.id;
        EXPECT_NE(row->at(key).as_string(), "named project") << e.id;
      }
    }
  }
  const auto summary = stop_daemon(d);
  const auto stats = api.stats();
  EXPECT_EQ(stats.unique_rows, expected.size());
  EXPECT_EQ(stats.duplicate_rows, 0u);
  EXPECT_EQ(summary.at("delivered"), expected.size());
  EXPECT_EQ(summary.at("accepted"), expected.size());
}

// One connection naming the same value under different routing keys, then switching back
// and forth: each line goes where its own key says (the I/O thread remembers the last route).
TEST(DaemonEndToEnd, RoutingFollowsEveryLineOnOneConnection) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);
  struct Expect {
    std::string kind, object, id;
  };
  const std::vector<std::pair<std::string, Expect>> routes = {
      {R"("project_id":"same",)", {"project_logs", "same", ""}},
      {R"("experiment_id":"same",)", {"experiment", "same", ""}},
      {R"("dataset_id":"same",)", {"dataset", "same", ""}},
      {"", {"project_logs", "default-proj", ""}},
      {R"("project_id":"other",)", {"project_logs", "other", ""}},
  };
  std::string lines;
  std::vector<Expect> expected;
  for (int i = 0; i < 60; ++i) {
    const auto& [key, where] = routes[static_cast<std::size_t>(i * 7 % 5)];
    Expect e = where;
    e.id = "switch-" + std::to_string(i);
    lines += "{" + key + R"("id":")" + e.id + R"(","input":"q"})" + "\n";
    expected.push_back(e);
  }
  send_uds(d.uds, lines);
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= expected.size(); }))
      << api.stats_json() << d.process->stderr_text();
  for (const auto& e : expected)
    EXPECT_TRUE(api.row(e.kind, e.object, e.id)) << e.kind << "/" << e.object << "/" << e.id;
  const auto summary = stop_daemon(d);
  EXPECT_EQ(api.stats().unique_rows, expected.size());
  EXPECT_EQ(summary.at("delivered"), expected.size());
}

TEST(DaemonEndToEnd, MergeUpdatesAndMissingIds) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);
  send_uds(d.uds, R"({"id":"span-1","input":"question","metrics":{"start":1}})"
                  "\n"
                  R"({"id":"span-1","_is_merge":true,"output":"answer","metrics":{"end":2}})"
                  "\n"
                  R"({"input":"no id here"})"
                  "\n");
  ASSERT_TRUE(wait_until([&] {
    const auto row = api.row("project_logs", "default-proj", "span-1");
    return row && row->contains("output") && api.row_count("project_logs", "default-proj") == 2;
  })) << api.stats_json();
  const auto row = *api.row("project_logs", "default-proj", "span-1");
  EXPECT_EQ(row.at("input").as_string(), "question");
  EXPECT_EQ(row.at("output").as_string(), "answer");
  EXPECT_EQ(row.at("metrics").as_object().at("start").to_number<double>(), 1);
  stop_daemon(d);
}

TEST(DaemonBadInput, EachCaseCountedLoggedAndNeighboursDelivered) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(
      api, dir, {"--ingest.max_line_bytes=4096", "--ingest.max_depth=16", "--ingest.max_body_bytes=8192"});
  std::string deep = R"({"a":)";
  for (int i = 0; i < 20; ++i) deep += "[";
  for (int i = 0; i < 20; ++i) deep += "]";
  deep += "}";
  struct Case {
    std::string reason;
    std::string line;
  };
  const std::vector<Case> cases = {
      {"not_json", R"({"a":1,})"},
      {"not_object", "[1,2,3]"},
      {"too_long", R"({"pad":")" + std::string(5000, 'x') + "\"}"},
      {"invalid_utf8", std::string("{\"a\":\"\xff\"}")},
      {"too_deep", deep},
      {"bad_routing_key", R"({"project_id":42})"},
      {"bad_id", R"({"id":{"x":1}})"},
  };
  std::string stream;
  std::uint64_t utf8_offset = 0;
  std::set<std::string> valid_ids;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const std::string before = "before-" + std::to_string(k);
    const std::string after = "after-" + std::to_string(k);
    stream += R"({"id":")" + before + "\"}\n";
    if (cases[k].reason == "invalid_utf8") utf8_offset = stream.size() + 6;
    stream += cases[k].line + "\n";
    stream += R"({"id":")" + after + "\"}\n";
    valid_ids.insert(before);
    valid_ids.insert(after);
  }
  send_uds(d.uds, stream);
  // A client that disconnects mid-line loses only that line.
  send_uds(d.uds, R"({"id":"complete-1"})"
                  "\n"
                  R"({"id":"cut-off)");
  valid_ids.insert("complete-1");
  send_datagram(d.datagram, "datagram garbage");
  send_datagram(d.datagram, R"({"id":"dgram-ok"})");
  valid_ids.insert("dgram-ok");

  // HTTP: one bad event refuses the whole request; a too-large body gets 413.
  const auto refused = d.post("/v1/project_logs/default-proj/insert",
                                 R"({"events":[{"id":"http-refused-0"},{"id":5}]})");
  EXPECT_EQ(refused.status, 400);
  const auto error = boost::json::parse(refused.body).at("error").as_object();
  EXPECT_EQ(error.at("event_index").as_int64(), 1);
  EXPECT_EQ(error.at("reason").as_string(), "bad_id");
  const auto too_big = d.post("/v1/project_logs/default-proj/insert",
                                 R"({"events":[{"pad":")" + std::string(10000, 'y') + "\"}]}");
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(d.post("/v1/nowhere/x/insert", "{}").status, 404);
  EXPECT_EQ(d.get("/v1/project_logs/p/insert").status, 405);
  const auto accepted =
      d.post("/v1/project_logs/default-proj/insert", R"({"events":[{"id":"http-ok"}]})");
  EXPECT_EQ(accepted.status, 200);
  valid_ids.insert("http-ok");

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= valid_ids.size(); }))
      << api.stats_json() << d.process->stderr_text();
  for (const auto& id : valid_ids) EXPECT_TRUE(api.row("project_logs", "default-proj", id)) << id;
  EXPECT_FALSE(api.row("project_logs", "default-proj", "http-refused-0"))
      << "part of a refused request was queued";

  const PromText metrics = scrape(d);
  for (const auto& e : metrics.errors) ADD_FAILURE() << e;
  for (const auto& c : cases) {
    EXPECT_EQ(metrics.value("spanline_ingest_invalid_total", {{"listener", "uds"}, {"reason", c.reason}}), 1)
        << c.reason;
    EXPECT_TRUE(d.process->wait_stderr(
        std::regex("warn uds: bad input from conn#\\d+.*reason=" + c.reason + " offset=\\d+"), 5s))
        << c.reason << "\n"
        << d.process->stderr_text();
  }
  EXPECT_EQ(
      metrics.value("spanline_ingest_invalid_total", {{"listener", "uds"}, {"reason", "partial_line"}}), 1);
  EXPECT_EQ(
      metrics.value("spanline_ingest_invalid_total", {{"listener", "datagram"}, {"reason", "not_json"}}), 1);
  EXPECT_EQ(metrics.value("spanline_ingest_invalid_total", {{"listener", "http"}, {"reason", "bad_id"}}), 1);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "400"}}), 1);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "200"}}), 1);
  EXPECT_TRUE(d.process->wait_stderr(
      std::regex("reason=invalid_utf8 offset=" + std::to_string(utf8_offset) + "\\b"), 5s))
      << d.process->stderr_text();
  EXPECT_TRUE(d.process->wait_stderr(std::regex("reason=partial_line"), 5s));
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("delivered"), valid_ids.size());
}

TEST(DaemonShutdown, SigtermDuringTrafficWithSlowApi) {
  ServerConfig config = fake_config();
  config.faults.latency_ms = 150;
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--shutdown.timeout_ms=5000"});

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  std::thread client([&] {
    try {
      asio::io_context io;
      asio::local::stream_protocol::socket socket(io);
      socket.connect(asio::local::stream_protocol::endpoint(d.uds));
      for (std::uint64_t i = 0; !stop; ++i) {
        const std::string line = R"({"id":"t-)" + std::to_string(i) +
                                 R"(","input":"streaming","metrics":{"tokens":42}})"
                                 "\n";
        asio::write(socket, asio::buffer(line));
        written = i + 1;
      }
    } catch (const std::exception&) {
      // The daemon closed the connection on SIGTERM: expected.
    }
  });
  ASSERT_TRUE(wait_until([&] { return api.stats().rows_received >= 100; })) << api.stats_json();
  d.process->signal(SIGTERM);
  const auto code = d.process->wait_exit(120s);
  stop = true;
  client.join();
  ASSERT_EQ(code, 0) << d.process->stderr_text();
  const auto summary = stop_daemon(d);
  const auto stats = api.stats();
  ASSERT_TRUE(summary.count("accepted"));
  // Every accepted row is either delivered or reported as not delivered.
  EXPECT_EQ(summary.at("received"), summary.at("accepted") + summary.at("refused"));
  EXPECT_EQ(summary.at("accepted"), summary.at("delivered") + summary.at("rejected") + summary.at("dropped") +
                                        summary.at("spooled") + summary.at("pending"));
  EXPECT_GE(stats.unique_rows, summary.at("delivered"));
  EXPECT_LE(stats.unique_rows, summary.at("accepted"));
  EXPECT_LE(summary.at("accepted"), written.load());
  EXPECT_EQ(stats.duplicate_rows, 0u);
  EXPECT_TRUE(d.process->wait_stderr(std::regex("received SIGTERM: stopped accepting, draining"), 1s));
}

TEST(DaemonHttpIngest, OnlyValidIdsAreRoutesAndBadTargetsAreLoggedEscaped) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);
  for (const std::string target : {"/v1/project_logs/../insert", "/v1/project_logs/./insert",
                                   "/v1/experiment/a%2Fb/insert", "/v1/dataset/caf\xc3\xa9/insert"}) {
    EXPECT_EQ(d.post(target, R"({"events":[{"id":"x"}]})").status, 404) << target;
  }
  // A refused body under a target holding bytes that are not UTF-8: the warning shows them escaped.
  EXPECT_EQ(d.post("/v1/project_logs/p-1/insert?q=\xff\xfe", R"({"events":[{"id":5}]})").status,
            400);
  ASSERT_TRUE(
      d.process->wait_stderr(std::regex(R"(bad input from /v1/project_logs/p-1/insert\?q=\\xff\\xfe)"), 5s))
      << d.process->stderr_text();
  EXPECT_EQ(d.process->stderr_text().find("\xff"), std::string::npos) << "a raw byte reached the log";
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("accepted"), 0u);
  EXPECT_EQ(api.stats().inserts, 0u);
}

TEST(DaemonStopSummary, FiguresAddUpWithDeliveredRejectedAndRefusedRows) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--batch.max_payload_bytes=4096", "--ingest.max_depth=64"});
  std::string lines;
  for (int i = 0; i < 300; ++i) lines += R"({"id":"ok-)" + std::to_string(i) + "\"}\n";
  // Nested deeper than the fake API takes: refused by the API (400), isolated from its batch.
  lines += R"({"id":"too-deep","a":)" + std::string(40, '[') + std::string(40, ']') + "}\n";
  // Larger than the payload limit: refused when it is logged.
  lines += R"({"id":"too-big","pad":")" + std::string(5000, 'x') + "\"}\n";
  send_uds(d.uds, lines);
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 300; })) << api.stats_json();
  ASSERT_TRUE(wait_until([&] { return scrape(d).value("spanline_rows_rejected_total", {}) == 1; }))
      << d.process->stderr_text();

  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("received"), 302u);
  EXPECT_EQ(summary.at("refused"), 1u);
  EXPECT_EQ(summary.at("accepted"), 301u);
  EXPECT_EQ(summary.at("delivered"), 300u);
  EXPECT_EQ(summary.at("rejected"), 1u);
  EXPECT_EQ(summary.at("dropped"), 0u);
  EXPECT_EQ(summary.at("pending"), 0u);
  EXPECT_EQ(summary.at("received"), summary.at("accepted") + summary.at("refused"));
  EXPECT_EQ(summary.at("accepted"), summary.at("delivered") + summary.at("rejected") + summary.at("dropped") +
                                        summary.at("spooled") + summary.at("pending"));
  EXPECT_EQ(d.process->stderr_text().find("does not add up"), std::string::npos) << d.process->stderr_text();
}

TEST(DaemonShutdown, SecondSignalExitsAtOnce) {
  ServerConfig config = fake_config();
  config.faults.latency_ms = 20'000;  // requests hang: the drain cannot finish on its own
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d =
      start_daemon(api, dir, {"--shutdown.timeout_ms=600000", "--http.request_timeout_ms=600000"});
  send_uds(d.uds, R"({"id":"stuck-1"})"
                  "\n");
  ASSERT_TRUE(wait_until([&] { return scrape(d).value("spanline_in_flight_requests").value_or(0) >= 1; }));
  d.process->signal(SIGTERM);
  ASSERT_TRUE(d.process->wait_stderr(std::regex("draining"), 30s));
  d.process->signal(SIGTERM);
  const auto code = d.process->wait_exit(60s);
  ASSERT_TRUE(code.has_value()) << "a second SIGTERM did not end the drain";
  EXPECT_EQ(*code, 128 + SIGTERM);
  EXPECT_TRUE(d.process->wait_stderr(std::regex("second signal"), 1s));
  api.set_faults({});
}

TEST(DaemonMetrics, PrometheusParsesAndMatchesTheFakeApi) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir);
  EXPECT_EQ(http_get(d.admin, "/healthz").status, 200);
  EXPECT_EQ(http_get(d.admin, "/readyz").status, 200);
  EXPECT_EQ(http_get(d.admin, "/nope").status, 404);
  std::string lines;
  for (int i = 0; i < 300; ++i)
    lines += R"({"id":"m-)" + std::to_string(i) +
             R"(","scores":{"accuracy":0.5}})"
             "\n";
  send_uds(d.uds, lines);
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 300; })) << api.stats_json();
  // Counters settle once the sender has seen every answer.
  PromText metrics;
  ASSERT_TRUE(wait_until([&] {
    metrics = scrape(d);
    return metrics.value("spanline_rows_delivered_total") == 300.0 &&
           metrics.value("spanline_in_flight_requests") == 0.0;
  }));
  for (const auto& e : metrics.errors) ADD_FAILURE() << e;
  const auto stats = api.stats();
  EXPECT_EQ(metrics.value("spanline_rows_in_total"), 300);
  EXPECT_EQ(metrics.value("spanline_rows_delivered_total"), static_cast<double>(stats.unique_rows));
  EXPECT_EQ(metrics.value("spanline_events_sent_total"), static_cast<double>(stats.rows_received));
  EXPECT_EQ(metrics.value("spanline_batches_sent_total"), static_cast<double>(stats.inserts));
  EXPECT_EQ(metrics.value("spanline_bytes_compressed_total"), static_cast<double>(stats.bytes_received));
  EXPECT_EQ(metrics.value("spanline_bytes_raw_total"), static_cast<double>(stats.bytes_decoded));
  EXPECT_GE(metrics.value("spanline_request_duration_seconds_count").value_or(0),
            static_cast<double>(stats.inserts));
  EXPECT_LE(metrics.value("spanline_request_duration_seconds_count").value_or(0),
            metrics.sum("spanline_requests_total"));
  EXPECT_GE(metrics.value("spanline_requests_total", {{"status", "200"}}).value_or(0),
            static_cast<double>(stats.inserts));
  EXPECT_EQ(metrics.sum("spanline_rows_dropped_total"), 0);
  EXPECT_EQ(metrics.value("spanline_ingest_events_total", {{"listener", "uds"}}), 300);
  EXPECT_EQ(metrics.value("spanline_ingest_bytes_total", {{"listener", "uds"}}),
            static_cast<double>(lines.size()));
  EXPECT_EQ(metrics.value("spanline_ready"), 1);
  stop_daemon(d);
}

// ---- the command line ----------------------------------------------------------

int run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            std::string* out, std::string* err) {
  ChildProcess p(kDaemon, args, env);
  const auto code = p.wait_exit(60s);
  if (out) *out = p.stdout_text();
  if (err) *err = p.stderr_text();
  return code.value_or(-1);
}

TEST(DaemonCli, VersionHelpCheckAndPrint) {
  std::string out, err;
  EXPECT_EQ(run_cli({"--version"}, {}, &out, &err), 0);
  EXPECT_NE(out.find("spanlined "), std::string::npos);
#ifdef SPANLINE_EXPECT_AGENT_JEMALLOC
  // Built with jemalloc: the daemon must really run on it (CMakeLists.txt says why).
  EXPECT_NE(out.find("(allocator: jemalloc "), std::string::npos) << out;
#else
  EXPECT_NE(out.find("(allocator: "), std::string::npos) << out;
#endif
  EXPECT_EQ(run_cli({"--help"}, {}, &out, &err), 0);
  EXPECT_NE(out.find("--ingest.uds_path"), std::string::npos);
  EXPECT_NE(out.find("--queue.max_bytes"), std::string::npos);
  EXPECT_EQ(run_cli({"--check-config"}, {}, &out, &err), 0) << err;
  EXPECT_EQ(run_cli({"--print-config"}, {{"BRAINTRUST_API_KEY", kApiKey}}, &out, &err), 0);
  EXPECT_EQ(out.find(kApiKey), std::string::npos);
  EXPECT_NE(out.find("<redacted>"), std::string::npos);
}

TEST(DaemonCli, ConfigErrorsExitNonZeroNamingFileAndKey) {
  TempDir dir;
  const std::string path = dir.file("bad.toml");
  std::ofstream(path) << "[ingest]\nmax_line_bytes = \"huge\"\n";
  std::string out, err;
  EXPECT_EQ(run_cli({"--config", path, "--check-config"}, {}, &out, &err), 2);
  EXPECT_NE(err.find(path + ":2"), std::string::npos) << err;
  EXPECT_NE(err.find("ingest.max_line_bytes"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"--bogus=1"}, {}, &out, &err), 2);
  EXPECT_NE(err.find("--bogus"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"--check-config"}, {{"SPANLINE_QUEUE_OVERFLOW", "maybe"}}, &out, &err), 2);
  EXPECT_NE(err.find("SPANLINE_QUEUE_OVERFLOW"), std::string::npos) << err;
}

TEST(DaemonCli, ListenerFailuresAndStaleSockets) {
  TempDir dir;
  FakeApi api(fake_config());
  // A regular file where the socket should go is never deleted.
  const std::string file = dir.file("taken.sock");
  std::ofstream(file) << "precious";
  std::string out, err;
  EXPECT_EQ(run_cli({"--ingest.uds_path=" + file, "--ingest.datagram_path=off", "--ingest.http_listen=off",
                     "--admin.listen=off"},
                    {{"BRAINTRUST_API_URL", api.base_url()}}, &out, &err),
            1);
  EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::exists(file));

  // A stale socket file (nobody listening) is replaced.
  {
    asio::io_context io;
    asio::local::stream_protocol::acceptor stale(io,
                                                 asio::local::stream_protocol::endpoint(dir.file("s.sock")));
  }
  ASSERT_TRUE(std::filesystem::exists(dir.file("s.sock")));
  RunningDaemon d = start_daemon(api, dir);
  send_uds(d.uds, R"({"id":"after-stale"})"
                  "\n");
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= 1; }));

  // A second daemon on the same live socket refuses to start instead of stealing it.
  EXPECT_EQ(run_cli({"--ingest.uds_path=" + d.uds, "--ingest.datagram_path=off", "--ingest.http_listen=off",
                     "--admin.listen=off"},
                    {{"BRAINTRUST_API_URL", api.base_url()}}, &out, &err),
            1);
  EXPECT_NE(err.find("another process is listening"), std::string::npos) << err;
  stop_daemon(d);
  EXPECT_FALSE(std::filesystem::exists(dir.file("s.sock"))) << "the socket file is removed at exit";
}

}  // namespace
}  // namespace spanline::testing
