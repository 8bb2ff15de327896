// Durable ingest (ingest.ack = "durable") end to end: the real spanlined binary with a
// spool directory, the in-process fake Braintrust API, kill -9 and a restart on the same
// spool. Also the configuration rules and the spool metrics.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#if SPANLINE_HAVE_AGENT
#include "daemon_config.hpp"
#include "prometheus.hpp"
#endif

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>

namespace spanline::testing {
namespace {

namespace asio = boost::asio;
using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;

const std::string kApiKey = "sk-spool-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

// spanlined with every listener but the datagram one on private addresses, durable acks and
// the spool in `spool_dir`.
RunningDaemon start_durable_daemon(const FakeApi& api, const TempDir& dir, const std::string& spool_dir,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--ingest.uds_path=" + dir.file("s.sock"),
                                   "--ingest.datagram_path=off",
                                   "--ingest.tcp_listen=127.0.0.1:0",
                                   "--ingest.http_listen=127.0.0.1:0",
                                   "--admin.listen=127.0.0.1:0",
                                   "--destination.project_id=default-proj",
                                   "--batch.linger_ms=5",
                                   "--retry.max_delay_ms=500",
                                   "--spool.dir=" + spool_dir,
                                   "--ingest.ack=durable"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

PromText scrape(const RunningDaemon& d) {
  const auto answer = http_get(d.admin, "/metrics");
  EXPECT_EQ(answer.status, 200);
  PromText text = parse_prometheus(answer.body);
  for (const auto& e : text.errors) ADD_FAILURE() << e;
  return text;
}

void stop_gracefully(RunningDaemon& d) {
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0) << d.process->stderr_text();
  EXPECT_EQ(d.process->stderr_text().find(kApiKey), std::string::npos) << "the API key reached the log";
}

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

// Every request fails with 503 from the start, until set_faults({}).
ServerConfig fake_config_in_outage() {
  ServerConfig config = fake_config();
  config.faults.outage_start_s = 0;
  config.faults.outage_duration_s = 24 * 3600;
  return config;
}

std::string insert_body(const std::vector<std::string>& ids, std::size_t pad = 40) {
  std::string body = R"({"events":[)";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) body += ',';
    body += R"({"id":")" + ids[i] + R"(","input":")" + std::string(pad, 'q') + R"(","metrics":{"tokens":7}})";
  }
  body += "]}";
  return body;
}

// A connected NDJSON stream (Unix or TCP) whose answers are read with a deadline (plain
// poll(2): Asio's synchronous reads would wait forever).
class StreamClient {
 public:
  static StreamClient unix_socket(const std::string& path) {
    StreamClient c;
    c.uds_.emplace(*c.io_);
    c.uds_->connect(asio::local::stream_protocol::endpoint(path));
    c.fd_ = c.uds_->native_handle();
    return c;
  }
  static StreamClient tcp(const std::string& address) {
    StreamClient c;
    c.tcp_.emplace(*c.io_);
    const auto colon = address.rfind(':');
    c.tcp_->connect({asio::ip::make_address(address.substr(0, colon)),
                     static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))});
    c.fd_ = c.tcp_->native_handle();
    return c;
  }
  StreamClient(StreamClient&& other) noexcept = default;

  void write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("send failed");
      done += static_cast<std::size_t>(n);
    }
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }

  // The next answer line without its '\n'; nullopt at end of file or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  StreamClient() = default;
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>();  // stays put when moved
  std::optional<asio::local::stream_protocol::socket> uds_;
  std::optional<asio::ip::tcp::socket> tcp_;
  int fd_ = -1;
  std::string pending_;
};

struct Answer {
  std::string verb;  // "ack" | "nack"
  std::uint64_t durable = 0, lines = 0;
  std::string reason;
};

std::optional<Answer> parse_answer(const std::string& line) {
  std::smatch m;
  static const std::regex pattern(R"(^(ack|nack) (\d+) (\d+)(?: (\w+))?$)");
  if (!std::regex_match(line, m, pattern)) return std::nullopt;
  return Answer{m[1], std::stoull(m[2]), std::stoull(m[3]), m[4]};
}

// Reads answers until one acknowledges `lines` lines; each must be a well-formed "ack" that
// never goes backwards. Returns the last one.
Answer read_acks_until(StreamClient& client, std::uint64_t lines) {
  Answer last;
  while (last.lines < lines) {
    const auto line = client.read_line();
    if (!line) {
      ADD_FAILURE() << "no answer acknowledging " << lines << " lines (last: " << last.lines << ")";
      return last;
    }
    const auto answer = parse_answer(*line);
    if (!answer || answer->verb != "ack") {
      ADD_FAILURE() << "unexpected answer '" << *line << "'";
      return last;
    }
    EXPECT_GE(answer->lines, last.lines);
    EXPECT_GE(answer->durable, last.durable);
    last = *answer;
  }
  return last;
}

std::string ndjson(const std::string& prefix, int from, int count) {
  std::string out;
  for (int i = from; i < from + count; ++i)
    out += R"({"id":")" + prefix + std::to_string(i) +
           R"(","input":"streamed","metrics":{"n":1}})"
           "\n";
  return out;
}

// ---- configuration -----------------------------------------------------------------

int run_cli(const std::vector<std::string>& args, std::string* err) {
  ChildProcess p(kDaemon, args, {});
  const auto code = p.wait_exit(60s);
  if (err) *err = p.stderr_text();
  return code.value_or(-1);
}

TEST(DaemonSpoolConfig, DurableAckWithoutSpoolDirIsAConfigError) {
  TempDir dir;
  std::string err;
  EXPECT_EQ(run_cli({"--ingest.ack=durable", "--check-config"}, &err), 2);
  EXPECT_NE(err.find("ingest.ack"), std::string::npos) << err;
  EXPECT_NE(err.find("spool.dir"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"--ingest.ack=sometimes", "--check-config"}, &err), 2);
  EXPECT_NE(err.find("ingest.ack"), std::string::npos) << err;
  EXPECT_EQ(run_cli({"--ingest.ack=durable", "--spool.dir=" + dir.file("spool"), "--check-config"}, &err), 0)
      << err;
  EXPECT_EQ(run_cli({"--ingest.ack=none", "--check-config"}, &err), 0) << err;
}

TEST(DaemonSpoolConfig, DurableAckRefusesToStartWhenTheSpoolCannotOpen) {
  TempDir dir;
  FakeApi api(fake_config());
  const std::string file = dir.file("not-a-dir");
  std::ofstream(file) << "x";
  ChildProcess p(kDaemon,
                 {"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=127.0.0.1:0",
                  "--admin.listen=off", "--ingest.ack=durable", "--spool.dir=" + file + "/spool"},
                 {{"BRAINTRUST_API_URL", api.base_url()}});
  const auto code = p.wait_exit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0) << p.stdout_text();
  EXPECT_NE(p.stderr_text().find("spool"), std::string::npos) << p.stderr_text();
  EXPECT_EQ(p.stdout_text().find("spanlined ready"), std::string::npos) << "it must not start listening";
}

#if SPANLINE_HAVE_AGENT
agent::DaemonConfig load_in_process(std::vector<std::string> args,
                                    std::map<std::string, std::string> env = {}) {
  std::vector<const char*> argv{"spanlined"};
  for (const auto& a : args) argv.push_back(a.c_str());
  const auto command_line = agent::parse_command_line(static_cast<int>(argv.size()), argv.data());
  return agent::load_config(command_line, [&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(DaemonSpoolConfig, SpoolAndAckSettingsFromFlagsEnvironmentAndFile) {
  TempDir dir;
  const std::string file = dir.file("c.toml");
  std::ofstream(file)
      << "[spool]\ndir = \"/var/tmp/from-file\"\nmax_bytes = \"64MiB\"\nsegment_bytes = \"1MiB\"\n"
         "fsync_interval_ms = 7\nfull_policy = \"block\"\noutage_after_ms = 1234\n"
         "[ingest]\nack = \"durable\"\nack_timeout_ms = 900\n[queue]\noverflow = \"spill\"\n";
  const auto from_file = load_in_process({"--config=" + file});
  EXPECT_EQ(from_file.ingest.ack, agent::IngestAck::durable);
  EXPECT_EQ(from_file.ingest.ack_timeout, std::chrono::milliseconds(900));
  EXPECT_EQ(from_file.library.spool_dir, "/var/tmp/from-file");
  EXPECT_EQ(from_file.library.spool_max_bytes, std::size_t{64} << 20);
  EXPECT_EQ(from_file.library.spool_segment_bytes, std::size_t{1} << 20);
  EXPECT_EQ(from_file.library.spool_fsync_interval, std::chrono::milliseconds(7));
  EXPECT_EQ(from_file.library.spool_full_policy, SpoolFullPolicy::block);
  EXPECT_EQ(from_file.library.spool_outage_after, std::chrono::milliseconds(1234));
  EXPECT_EQ(from_file.library.overflow, OverflowPolicy::spill);
  // Environment over file, flag over environment.
  const auto layered =
      load_in_process({"--config=" + file, "--spool.dir=/var/tmp/from-flag"},
                      {{"SPANLINE_SPOOL_DIR", "/var/tmp/from-env"}, {"SPANLINE_INGEST_ACK", "none"}});
  EXPECT_EQ(layered.library.spool_dir, "/var/tmp/from-flag");
  EXPECT_EQ(layered.ingest.ack, agent::IngestAck::none);
  // Durable with the spool turned off again by the environment: refused, naming the key.
  try {
    (void)load_in_process({"--config=" + file}, {{"SPANLINE_SPOOL_DIR", ""}});
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const agent::ConfigError& e) {
    EXPECT_EQ(e.key(), "ingest.ack");
    EXPECT_NE(e.reason().find("spool.dir"), std::string::npos) << e.reason();
  }
  // print_config round-trips the new settings.
  const std::string printed = agent::print_config(from_file);
  EXPECT_NE(printed.find("ack = \"durable\""), std::string::npos) << printed;
  EXPECT_NE(printed.find("dir = \"/var/tmp/from-file\""), std::string::npos) << printed;
}

TEST(DaemonSpoolMetrics, RendersSpoolAndDurableIngestFamilies) {
  Stats stats;
  stats.spool.enabled = true;
  stats.spool.bytes_on_disk = 123456;
  stats.spool.segments_on_disk = 3;
  stats.spool.replay_lag_bytes = 4096;
  stats.spool.oldest_unacked_age_seconds = 2.5;
  stats.spool.records_written = 40;
  stats.spool.rows_spilled = 800;
  stats.spool.records_replayed = 12;
  stats.spool.rows_replayed_delivered = 240;
  stats.spool.records_already_acked = 7;
  stats.spool.ack_write_errors = 4;
  stats.spool.records_corrupt = 1;
  stats.spool.records_truncated = 2;
  stats.spool.write_errors = 0;
  agent::DurableIngestSnapshot durable;
  durable.enabled = true;
  auto& http = durable.listeners[static_cast<std::size_t>(agent::Listener::http)];
  http.rows[static_cast<std::size_t>(DurableResult::durable)] = 700;
  http.rows[static_cast<std::size_t>(DurableResult::spool_full)] = 5;
  http.commits = 35;
  http.commit_seconds = 0.25;
  std::string text;
  agent::render_prometheus(stats, {}, durable, text);
  const PromText parsed = parse_prometheus(text);
  for (const auto& e : parsed.errors) ADD_FAILURE() << e;
  EXPECT_EQ(parsed.value("spanline_spool_enabled"), 1);
  EXPECT_EQ(parsed.value("spanline_spool_bytes"), 123456);
  EXPECT_EQ(parsed.value("spanline_spool_segments"), 3);
  EXPECT_EQ(parsed.value("spanline_spool_replay_lag_bytes"), 4096);
  EXPECT_EQ(parsed.value("spanline_spool_oldest_unacked_age_seconds"), 2.5);
  EXPECT_EQ(parsed.value("spanline_spool_records_written_total"), 40);
  EXPECT_EQ(parsed.value("spanline_spool_rows_spilled_total"), 800);
  EXPECT_EQ(parsed.value("spanline_spool_records_replayed_total"), 12);
  EXPECT_EQ(parsed.value("spanline_spool_rows_replayed_delivered_total"), 240);
  EXPECT_EQ(parsed.value("spanline_spool_records_already_acked_total"), 7);
  EXPECT_EQ(parsed.value("spanline_spool_ack_write_errors_total"), 4);
  for (const char* family :
       {"spanline_spool_records_already_acked_total", "spanline_spool_ack_write_errors_total"}) {
    EXPECT_EQ(parsed.types.count(family) ? parsed.types.at(family) : "", "counter") << family;
    EXPECT_TRUE(parsed.helps.count(family)) << family;
  }
  EXPECT_EQ(parsed.value("spanline_spool_records_corrupt_total"), 1);
  EXPECT_EQ(parsed.value("spanline_spool_records_truncated_total"), 2);
  EXPECT_EQ(parsed.value("spanline_spool_write_errors_total"), 0);
  EXPECT_EQ(
      parsed.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}),
      700);
  EXPECT_EQ(
      parsed.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "spool_full"}}),
      5);
  EXPECT_EQ(parsed.value("spanline_ingest_durable_commits_total", {{"listener", "http"}}), 35);
  EXPECT_EQ(parsed.value("spanline_ingest_durable_commit_seconds_total", {{"listener", "http"}}), 0.25);
  // Best-effort daemons show the spool families but not the durable-ingest ones.
  durable.enabled = false;
  agent::render_prometheus(stats, {}, durable, text);
  EXPECT_EQ(text.find("spanline_ingest_durable_rows_total"), std::string::npos);
  EXPECT_NE(text.find("spanline_spool_bytes"), std::string::npos);
}

TEST(DaemonSpoolConfig, PackagedConfigTurnsTheSpoolOn) {
  const auto path = std::filesystem::path(SPANLINE_SOURCE_DIR) / "packaging/spanlined.toml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const auto packaged = load_in_process({"--config=" + path.string()});
  EXPECT_EQ(packaged.library.spool_dir, "/var/lib/spanline/spool");
  EXPECT_EQ(packaged.ingest.ack, agent::IngestAck::none);
  // Everything else in the packaged file is the built-in default.
  auto defaults = load_in_process({});
  EXPECT_TRUE(defaults.library.spool_dir.empty()) << "the built-in default keeps the spool off";
  defaults.library.spool_dir = packaged.library.spool_dir;
  auto body = [](const std::string& s) { return s.substr(s.find('\n')); };
  EXPECT_EQ(body(agent::print_config(packaged)), body(agent::print_config(defaults)));
}
#endif

// ---- HTTP ingest -------------------------------------------------------------------------

// The crash test: acknowledged rows sit only in the spool (the API is down), the daemon is
// killed with SIGKILL in the middle of the stream, and a new daemon on the same spool
// directory delivers every acknowledged row once the API is back.
TEST(DaemonDurableIngest, EveryAcknowledgedRowSurvivesKill9) {
  FakeApi api(fake_config_in_outage());
  TempDir dir;
  const std::string spool = dir.file("spool");
  RunningDaemon first = start_durable_daemon(api, dir, spool, {"--ingest.threads=2"});

  constexpr int kRowsPerRequest = 20;
  std::mutex acked_mutex;
  std::vector<std::string> acked;
  std::atomic<int> acked_requests{0};
  std::atomic<int> refused_requests{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; !stop; ++r) {
        std::vector<std::string> ids;
        for (int i = 0; i < kRowsPerRequest; ++i)
          ids.push_back("crash-" + std::to_string(c) + "-" + std::to_string(r) + "-" + std::to_string(i));
        HttpAnswer answer;
        try {
          answer = first.post("/v1/project_logs/crash-proj/insert", insert_body(ids));
        } catch (const std::exception&) {
          return;  // the daemon is gone
        }
        if (answer.status != 200) {
          ++refused_requests;
          continue;
        }
        const auto row_ids = boost::json::parse(answer.body).at("row_ids").as_array();
        std::lock_guard lock(acked_mutex);
        EXPECT_EQ(row_ids.size(), ids.size());
        acked.insert(acked.end(), ids.begin(), ids.end());
        ++acked_requests;
      }
    });
  }
  // Mid-stream: both clients are still sending when the daemon dies.
  const bool enough = wait_until([&] { return acked_requests >= 60; }, 60s);
  first.process->signal(SIGKILL);
  const auto code = first.process->wait_exit(30s);
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_TRUE(enough) << "acked " << acked_requests.load() << " refused " << refused_requests.load() << "\n"
                      << first.process->stderr_text();
  ASSERT_EQ(code, 128 + SIGKILL);
  EXPECT_EQ(refused_requests.load(), 0);
  // Nothing reached the API: the acknowledged rows were only in the spool when it died.
  EXPECT_EQ(api.stats().rows_received, 0u) << api.stats_json();

  api.set_faults(FaultConfig{});  // the API is back
  RunningDaemon second = start_durable_daemon(api, dir, spool);
  const std::size_t expected = acked.size();
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= expected; }, 60s))
      << "delivered " << api.stats().unique_rows << " of " << expected << " acknowledged rows\n"
      << api.stats_json() << second.process->stderr_text();
  std::vector<std::string> missing;
  for (const auto& id : acked) {
    if (!api.row("project_logs", "crash-proj", id)) missing.push_back(id);
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged rows lost, first " << missing.front();

  const auto stats = api.stats();
  // At least once: a row may arrive twice (a record replayed by both processes); count it.
  RecordProperty("acknowledged_rows", static_cast<int>(expected));
  RecordProperty("duplicate_rows", static_cast<int>(stats.duplicate_rows));
  std::cout << "[ info ] acknowledged " << expected << " rows in " << acked_requests.load()
            << " requests; delivered " << stats.unique_rows << " distinct, " << stats.duplicate_rows
            << " duplicates\n";

  PromText metrics;
  ASSERT_TRUE(wait_until([&] {
    metrics = scrape(second);
    return metrics.value("spanline_spool_replay_lag_bytes") == 0.0;
  })) << "replay did not catch up";
  EXPECT_EQ(metrics.value("spanline_spool_enabled"), 1);
  EXPECT_GE(metrics.value("spanline_spool_records_replayed_total").value_or(0), 1);
  EXPECT_GE(metrics.value("spanline_spool_rows_replayed_delivered_total").value_or(0),
            static_cast<double>(expected));
  stop_gracefully(second);
}

TEST(DaemonDurableIngest, HttpAnswersAfterTheFsyncAndMetricsShowTheSpool) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_durable_daemon(api, dir, dir.file("spool"));
  std::vector<std::string> ids;
  for (int r = 0; r < 5; ++r) {
    std::vector<std::string> batch;
    for (int i = 0; i < 10; ++i) batch.push_back("h-" + std::to_string(r) + "-" + std::to_string(i));
    const auto answer = d.post("/v1/experiment/exp-durable/insert", insert_body(batch));
    ASSERT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(boost::json::parse(answer.body).at("row_ids").as_array().size(), batch.size());
    ids.insert(ids.end(), batch.begin(), batch.end());
  }
  // A bad request is still refused whole, before anything is written.
  EXPECT_EQ(
      d.post("/v1/experiment/exp-durable/insert", R"({"events":[{"id":"ok"},{"id":5}]})").status,
      400);
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= ids.size(); }))
      << api.stats_json() << d.process->stderr_text();
  for (const auto& id : ids) EXPECT_TRUE(api.row("experiment", "exp-durable", id)) << id;
  EXPECT_FALSE(api.row("experiment", "exp-durable", "ok"));

  const PromText metrics = scrape(d);
  for (const char* family :
       {"spanline_spool_enabled", "spanline_spool_bytes", "spanline_spool_segments",
        "spanline_spool_replay_lag_bytes", "spanline_spool_oldest_unacked_age_seconds",
        "spanline_spool_records_written_total", "spanline_spool_rows_spilled_total",
        "spanline_spool_records_replayed_total", "spanline_spool_records_already_acked_total",
        "spanline_spool_ack_write_errors_total", "spanline_spool_records_corrupt_total",
        "spanline_spool_records_truncated_total", "spanline_ingest_durable_rows_total",
        "spanline_ingest_durable_commits_total"}) {
    EXPECT_TRUE(metrics.types.count(family)) << family;
    EXPECT_TRUE(metrics.helps.count(family)) << family;
  }
  EXPECT_EQ(metrics.value("spanline_spool_enabled"), 1);
  EXPECT_GE(metrics.value("spanline_spool_records_written_total").value_or(0), 5);
  EXPECT_EQ(metrics.value("spanline_spool_records_corrupt_total"), 0);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}),
      static_cast<double>(ids.size()));
  EXPECT_EQ(metrics.value("spanline_ingest_durable_commits_total", {{"listener", "http"}}), 5);
  EXPECT_EQ(metrics.value("spanline_ingest_events_total", {{"listener", "http"}}),
            static_cast<double>(ids.size()));
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "200"}}), 5);
  stop_gracefully(d);
}

TEST(DaemonDurableIngest, FullSpoolAnswers503AndNackAndCountsTheRows) {
  // The API is down, so nothing leaves the small spool; it fills and further rows are refused.
  FakeApi api(fake_config_in_outage());
  TempDir dir;
  RunningDaemon d = start_durable_daemon(
      api, dir, dir.file("spool"),
      {"--spool.max_bytes=16KiB", "--spool.segment_bytes=4KiB", "--batch.compression=none"});
  int accepted = 0;
  HttpAnswer refused;
  for (int r = 0; r < 200; ++r) {
    const auto answer =
        d.post("/v1/project_logs/full-proj/insert",
                  insert_body({"f-" + std::to_string(r) + "-a", "f-" + std::to_string(r) + "-b"}, 600));
    if (answer.status == 200) {
      ++accepted;
      continue;
    }
    refused = answer;
    break;
  }
  ASSERT_EQ(refused.status, 503) << "the spool never filled after " << accepted << " requests";
  EXPECT_GE(accepted, 1);
  const auto error = boost::json::parse(refused.body).at("error").as_object();
  EXPECT_EQ(error.at("reason").as_string(), "spool_full") << refused.body;

  // The stream socket: a nack with the reason, then the connection ends. (Its rows are larger
  // than the refused request's, so they cannot fit either.)
  StreamClient client = StreamClient::unix_socket(d.uds);
  std::string lines;
  for (int i = 0; i < 3; ++i)
    lines += R"({"id":"nack-)" + std::to_string(i) + R"(","input":")" + std::string(700, 'n') + "\"}\n";
  client.write(lines);
  const auto line = client.read_line();
  ASSERT_TRUE(line);
  const auto answer = parse_answer(*line);
  ASSERT_TRUE(answer) << *line;
  EXPECT_EQ(answer->verb, "nack");
  EXPECT_EQ(answer->durable, 0u);
  EXPECT_EQ(answer->lines, 0u);
  EXPECT_EQ(answer->reason, "spool_full");
  EXPECT_FALSE(client.read_line(5s)) << "the connection stays open after a nack";

  const PromText metrics = scrape(d);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "spool_full"}}),
      2);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "uds"}, {"result", "spool_full"}}),
      3);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}),
      2.0 * accepted);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "503"}}), 1);
  api.set_faults(FaultConfig{});
  stop_gracefully(d);
}

// ---- NDJSON stream acknowledgements ----------------------------------------------------

TEST(DaemonDurableIngest, StreamSocketsAcknowledgeCumulativeCounts) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_durable_daemon(api, dir, dir.file("spool"));
  std::set<std::string> expected;
  auto remember = [&](const std::string& prefix, int from, int count) {
    for (int i = from; i < from + count; ++i) expected.insert(prefix + std::to_string(i));
  };

  StreamClient uds = StreamClient::unix_socket(d.uds);
  uds.write(ndjson("u-", 0, 10));
  remember("u-", 0, 10);
  Answer a = read_acks_until(uds, 10);
  EXPECT_EQ(a.durable, 10u);
  EXPECT_EQ(a.lines, 10u);
  // Invalid and blank lines are settled (counted in <lines>) but not durable; a routed row
  // goes to its own destination in the same commit.
  uds.write(ndjson("u-", 10, 5) + "not json\n\n" +
            R"({"id":"u-routed","dataset_id":"ds-ack"})"
            "\n");
  remember("u-", 10, 5);
  a = read_acks_until(uds, 18);
  EXPECT_EQ(a.durable, 16u);
  EXPECT_EQ(a.lines, 18u);
  // A line split across writes is acknowledged once complete; a half-close gets the final
  // answer, then end of file.
  const std::string last = ndjson("u-", 15, 1);
  uds.write(last.substr(0, 10));
  uds.write(last.substr(10) + ndjson("u-", 16, 4));
  remember("u-", 15, 5);
  uds.half_close();
  a = read_acks_until(uds, 23);
  EXPECT_EQ(a.durable, 21u);
  EXPECT_FALSE(uds.read_line(10s)) << "expected end of file after the last answer";

  // TCP: the same protocol; a big burst arrives in several reads, each acknowledged.
  StreamClient tcp = StreamClient::tcp(d.tcp);
  tcp.write(ndjson("t-", 0, 2000));
  remember("t-", 0, 2000);
  a = read_acks_until(tcp, 2000);
  EXPECT_EQ(a.durable, 2000u);
  tcp.half_close();
  EXPECT_FALSE(tcp.read_line(10s));

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= expected.size() + 1; }))
      << api.stats_json() << d.process->stderr_text();
  for (const auto& id : expected) EXPECT_TRUE(api.row("project_logs", "default-proj", id)) << id;
  EXPECT_TRUE(api.row("dataset", "ds-ack", "u-routed"));

  const PromText metrics = scrape(d);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "uds"}, {"result", "durable"}}), 21);
  EXPECT_EQ(
      metrics.value("spanline_ingest_durable_rows_total", {{"listener", "tcp"}, {"result", "durable"}}),
      2000);
  EXPECT_EQ(metrics.value("spanline_ingest_invalid_total", {{"listener", "uds"}, {"reason", "not_json"}}),
            1);
  stop_gracefully(d);
}

}  // namespace
}  // namespace spanline::testing
