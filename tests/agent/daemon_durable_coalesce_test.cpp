// Durable ingest (ingest.ack = "durable") stores the rows of one commit with the rows
// sharing an id combined, as best-effort delivery sends them: a span's start, log and end
// rows posted in one request reach the API as one event with the merged fields. End to
// end with the real spanlined binary and the fake API keeping every row.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>
#include <string>
#include <vector>

namespace spanline::testing {
namespace {

using fakeapi::FakeApi;
using fakeapi::ServerConfig;

const std::string kApiKey = "sk-durable-coalesce-test-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

RunningDaemon start_durable_daemon(const FakeApi& api, const TempDir& dir) {
  return launch_daemon(
      kDaemon,
      {"--ingest.uds_path=" + dir.file("s.sock"), "--ingest.datagram_path=off",
       "--ingest.tcp_listen=127.0.0.1:0", "--ingest.http_listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0",
       "--destination.project_id=default-proj", "--batch.linger_ms=5", "--retry.max_delay_ms=500",
       "--spool.dir=" + dir.file("spool"), "--ingest.ack=durable"},
      api.base_url(), kApiKey);
}

// A span's rows as an SDK writes them: the start row, then merge rows for a log and the end.
std::vector<std::string> span_rows(const std::string& id) {
  return {R"({"id":")" + id + R"(","span_id":")" + id + R"(","input":"question","metrics":{"start":10}})",
          R"({"id":")" + id + R"(","_is_merge":true,"output":"answer","metadata":{"model":"m"}})",
          R"({"id":")" + id + R"(","_is_merge":true,"metrics":{"end":12,"tokens":7}})"};
}

TEST(DaemonDurableCoalesce, ASpansRowsInOneRequestArriveAsOneMergedEvent) {
  ServerConfig config;
  config.api_key = kApiKey;
  FakeApi api(config);  // full store: the final rows can be read back
  TempDir dir;
  RunningDaemon d = start_durable_daemon(api, dir);

  // Two spans whose rows interleave, plus a row replaced later in the same request.
  const auto a = span_rows("span-a");
  const auto b = span_rows("span-b");
  const std::vector<std::string> rows = {a[0],
                                         b[0],
                                         a[1],
                                         R"({"id":"plain","input":"first"})",
                                         b[1],
                                         a[2],
                                         R"({"id":"plain","output":"replaced"})",
                                         b[2]};
  std::string body = R"({"events":[)";
  for (std::size_t i = 0; i < rows.size(); ++i) body += (i ? "," : "") + rows[i];
  body += "]}";
  const auto answer = d.post("/v1/experiment/exp-coalesce/insert", body);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(boost::json::parse(answer.body).at("row_ids").as_array().size(), rows.size());

  // One request, one spool record, replayed in one request: once one row is there, all are.
  ASSERT_TRUE(wait_until([&] { return api.stats().rows_received >= 3; }))
      << api.stats_json() << d.process->stderr_text();
  const auto stats = api.stats();
  EXPECT_EQ(stats.rows_received, 3u) << "rows sharing an id must arrive as one event; " << api.stats_json();
  EXPECT_EQ(stats.duplicate_rows, 0u);
  for (const char* id : {"span-a", "span-b"}) {
    SCOPED_TRACE(id);
    const auto row = api.row("experiment", "exp-coalesce", id);
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->at("input"), "question");
    EXPECT_EQ(row->at("output"), "answer");
    EXPECT_EQ(row->at("metadata"), boost::json::parse(R"({"model":"m"})"));
    EXPECT_EQ(row->at("metrics"), boost::json::parse(R"({"start":10,"end":12,"tokens":7})"));
  }
  const auto plain = api.row("experiment", "exp-coalesce", "plain");
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(plain->contains("input")) << "a replace row must replace, not merge";
  EXPECT_EQ(plain->at("output"), "replaced");

  // Every row is still counted as durable and as an event, whatever it became upstream.
  const auto metrics = http_get(d.admin, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  const PromText text = parse_prometheus(metrics.body);
  EXPECT_EQ(text.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}),
            static_cast<double>(rows.size()));
  EXPECT_EQ(text.value("spanline_rows_coalesced_total"), 5);

  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0) << d.process->stderr_text();
}

}  // namespace
}  // namespace spanline::testing
