// End-to-end tests of spanlined's ingest limits: the real binary as a child process on
// 127.0.0.1 and private Unix sockets, feeding the in-process fake Braintrust API. Each test
// checks what the client sees, the counter on /metrics and the log line, and that the
// neighbouring traffic is unaffected.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <set>

namespace spanline::testing {
namespace {

namespace asio = boost::asio;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
using Clock = std::chrono::steady_clock;

const std::string kApiKey = "sk-limits-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

// Every listener on a private socket or a kernel-picked port. `default_project` empty: no
// default destination, so a line needs its own routing key.
RunningDaemon start_daemon(const FakeApi& api, const TempDir& dir, const std::vector<std::string>& extra,
                    const std::string& default_project = "default-proj") {
  std::vector<std::string> args = {"--ingest.uds_path=" + dir.file("s.sock"),
                                   "--ingest.datagram_path=" + dir.file("d.sock"),
                                   "--ingest.tcp_listen=127.0.0.1:0",
                                   "--ingest.http_listen=127.0.0.1:0",
                                   "--admin.listen=127.0.0.1:0",
                                   "--batch.linger_ms=5"};
  if (!default_project.empty()) args.push_back("--destination.project_id=" + default_project);
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

// SIGTERM, wait for the exit, and return the numbers of the "spanlined stopped:" line.
std::map<std::string, std::uint64_t> stop_daemon(RunningDaemon& d) {
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0) << d.process->stderr_text();
  std::map<std::string, std::uint64_t> out;
  const std::string text = d.process->stdout_text();
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(R"(spanlined stopped: (.*)\n)"))) {
    ADD_FAILURE() << "no stopped line: " << text;
    return out;
  }
  const std::string summary = m[1];
  static const std::regex pair(R"((\w+)=(\d+))");
  for (std::sregex_iterator it(summary.begin(), summary.end(), pair), end; it != end; ++it)
    out[(*it)[1]] = std::stoull((*it)[2]);
  EXPECT_EQ(d.process->stderr_text().find(kApiKey), std::string::npos) << "the API key reached the log";
  return out;
}

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

PromText scrape(const RunningDaemon& d) { return parse_prometheus(http_get(d.admin, "/metrics").body); }

double metric(const RunningDaemon& d, const std::string& name, const std::map<std::string, std::string>& labels) {
  return scrape(d).value(name, labels).value_or(-1);
}

asio::ip::tcp::endpoint tcp_endpoint(const std::string& address) {
  std::string rest = address;
  if (const auto scheme = rest.find("//"); scheme != std::string::npos) rest = rest.substr(scheme + 2);
  const auto colon = rest.rfind(':');
  return {asio::ip::make_address(rest.substr(0, colon)), static_cast<unsigned short>(std::stoi(rest.substr(colon + 1)))};
}

void send_uds(const std::string& path, const std::string& data) {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  socket.connect(asio::local::stream_protocol::endpoint(path));
  asio::write(socket, asio::buffer(data));
}

void send_datagram(const std::string& path, const std::string& data) {
  asio::io_context io;
  asio::local::datagram_protocol::socket socket(io);
  socket.open();
  socket.send_to(asio::buffer(data), asio::local::datagram_protocol::endpoint(path));
}

std::string line(const std::string& id, const std::string& extra = {}) {
  return R"({"id":")" + id + "\"" + extra + "}\n";
}

// Blocks (poll, no sleeping) until the daemon closes the connection: end of file or a reset.
// Bytes the daemon writes meanwhile are read and ignored. False when `timeout` passes first.
bool closed_by_daemon(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
}

// Open: nothing to read and no hang-up pending right now.
bool still_open(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

// ---- routing ---------------------------------------------------------------------------

TEST(DaemonLimits, LineWithoutDestinationIsCountedLoggedAndNeighboursDelivered) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {}, /*default_project=*/"");

  const std::string routed = R"(,"project_id":"routed")";
  const std::string before = line("nd-before", routed);
  const std::string orphan = line("nd-orphan", R"(,"input":"no routing key, no default")");
  send_uds(d.uds, before + orphan + line("nd-after", routed));
  asio::io_context io;
  asio::ip::tcp::socket tcp(io);
  tcp.connect(tcp_endpoint(d.tcp));
  asio::write(tcp, asio::buffer(line("nd-tcp-orphan") + line("nd-tcp", routed)));
  tcp.close();
  send_datagram(d.datagram, line("nd-dgram-orphan"));
  send_datagram(d.datagram, line("nd-dgram", routed));

  const std::set<std::string> delivered = {"nd-before", "nd-after", "nd-tcp", "nd-dgram"};
  ASSERT_TRUE(wait_until([&] {
    for (const auto& id : delivered)
      if (!api.row("project_logs", "routed", id)) return false;
    return true;
  })) << api.stats_json() << d.process->stderr_text();

  for (const char* listener : {"uds", "tcp", "datagram"}) {
    ASSERT_TRUE(wait_until([&] {
      return metric(d, "spanline_ingest_invalid_total", {{"listener", listener}, {"reason", "no_destination"}}) == 1;
    }, 10s)) << listener;
  }
  // The log names the listener, the peer and where in the stream the line started.
  EXPECT_TRUE(d.process->wait_stderr(
      std::regex("warn uds: bad input from conn#\\d+[^:]*: reason=no_destination offset=" +
                 std::to_string(before.size()) + "\\b"),
      5s))
      << d.process->stderr_text();
  EXPECT_TRUE(d.process->wait_stderr(std::regex("warn datagram: bad input from .*reason=no_destination"), 5s));
  EXPECT_TRUE(d.process->wait_stderr(std::regex("warn tcp: bad input from 127\\.0\\.0\\.1:\\d+: reason=no_destination"), 5s));

  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("accepted"), delivered.size());
  EXPECT_EQ(summary.at("delivered"), delivered.size());
  EXPECT_EQ(api.stats().unique_rows, delivered.size()) << "a line without a destination went somewhere";
}

// ---- memory budget -------------------------------------------------------------------------

TEST(DaemonLimits, HttpAnswers503WhenTheBudgetIsFullAndQueuesNothingOfTheRequest) {
  ServerConfig config = fake_config();
  config.faults.fail_5xx = 1.0;  // an outage: every accepted row stays in the budget, retried
  FakeApi api(config);
  TempDir dir;
  // The smallest budget, the default overflow policy (block) with a short wait for room.
  RunningDaemon d = start_daemon(api, dir,
                          {"--queue.max_bytes=65536", "--ingest.ack_timeout_ms=300", "--retry.base_delay_ms=20",
                           "--retry.max_delay_ms=100"});
  const std::string pad = R"(,"input":")" + std::string(4000, 'p') + "\"";
  auto event = [&](const std::string& id) { return R"({"id":")" + id + "\"" + pad + "}"; };
  const std::string target = "/v1/project_logs/budget-proj/insert";

  // Fill the budget one event at a time until the daemon says it is full.
  std::set<std::string> accepted;
  HttpAnswer full;
  for (int i = 0; i < 100 && full.status != 503; ++i) {
    const std::string id = "fill-" + std::to_string(i);
    full = d.post(target, R"({"events":[)" + event(id) + "]}");
    if (full.status == 200) accepted.insert(id);
  }
  ASSERT_EQ(full.status, 503) << "64 KiB never filled up: " << full.body;
  ASSERT_GE(accepted.size(), 5u);
  ASSERT_LE(accepted.size(), 17u);

  // A request of many events while it is full: refused whole, and answered after one
  // ingest.ack_timeout_ms, not one per event.
  std::string body = R"({"events":[)";
  for (int i = 0; i < 20; ++i) body += (i ? "," : "") + event("refused-" + std::to_string(i));
  body += "]}";
  const auto started = Clock::now();
  const HttpAnswer refused = d.post(target, body);
  const auto took = Clock::now() - started;
  ASSERT_EQ(refused.status, 503) << refused.body;
  EXPECT_LT(took, 3s);
  const auto error = boost::json::parse(refused.body).at("error").as_object();
  EXPECT_EQ(error.at("reason").as_string(), "dropped_queue_full");
  EXPECT_EQ(error.at("queued").as_int64(), 0);
  EXPECT_NE(std::string(error.at("message").as_string()).find("memory budget full"), std::string::npos)
      << refused.body;

  const PromText metrics = scrape(d);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "503"}}), 2);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "200"}}),
            static_cast<double>(accepted.size()));
  EXPECT_EQ(metrics.value("spanline_ingest_not_queued_total", {{"listener", "http"}}), 21);
  EXPECT_EQ(metrics.value("spanline_ingest_events_total", {{"listener", "http"}}),
            static_cast<double>(accepted.size()));
  EXPECT_TRUE(d.process->wait_stderr(std::regex("warn http: valid event not queued: dropped_queue_full"), 5s))
      << d.process->stderr_text();

  // The outage ends: what was accepted arrives, nothing of the refused requests does.
  api.set_faults({});
  ASSERT_TRUE(wait_until([&] {
    for (const auto& id : accepted)
      if (!api.row("project_logs", "budget-proj", id)) return false;
    return true;
  })) << api.stats_json();
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("accepted"), accepted.size());
  EXPECT_EQ(summary.at("delivered"), accepted.size());
  EXPECT_EQ(api.row_count("project_logs", "budget-proj"), accepted.size());
  for (int i = 0; i < 20; ++i)
    EXPECT_FALSE(api.row("project_logs", "budget-proj", "refused-" + std::to_string(i))) << i;
}

// ---- idle connections ----------------------------------------------------------------------

TEST(DaemonLimits, IdleConnectionsAreClosedAndBusyOnesKept) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--ingest.idle_timeout_ms=1000"});

  asio::io_context io;
  asio::local::stream_protocol::socket idle_uds(io), busy_uds(io);
  idle_uds.connect(asio::local::stream_protocol::endpoint(d.uds));
  busy_uds.connect(asio::local::stream_protocol::endpoint(d.uds));
  asio::ip::tcp::socket idle_tcp(io), idle_http(io);
  idle_tcp.connect(tcp_endpoint(d.tcp));
  idle_http.connect(tcp_endpoint(d.http));  // connects, never sends a request
  asio::write(idle_uds, asio::buffer(line("idle-uds")));
  asio::write(idle_tcp, asio::buffer(line("idle-tcp")));

  // The busy connection writes well within every timeout window while the idle ones expire.
  std::set<std::string> ids = {"idle-uds", "idle-tcp"};
  const auto started = Clock::now();
  bool idle_closed = false;
  for (int i = 0; Clock::now() - started < 3s || !idle_closed; ++i) {
    ASSERT_LT(Clock::now() - started, 20s) << "idle connections were not closed\n" << d.process->stderr_text();
    const std::string id = "busy-" + std::to_string(i);
    asio::write(busy_uds, asio::buffer(line(id)));
    ids.insert(id);
    // Waiting for the idle connection to close, then checking that the busy one stays open,
    // doubles as the pace of the busy one (a line per 200 ms).
    if (!idle_closed)
      idle_closed = closed_by_daemon(idle_uds.native_handle(), 200ms);
    else
      ASSERT_FALSE(closed_by_daemon(busy_uds.native_handle(), 200ms)) << "the busy connection was closed";
  }
  EXPECT_TRUE(closed_by_daemon(idle_tcp.native_handle(), 10s));
  EXPECT_TRUE(closed_by_daemon(idle_http.native_handle(), 10s));
  EXPECT_TRUE(still_open(busy_uds.native_handle()));
  asio::write(busy_uds, asio::buffer(line("busy-last")));
  ids.insert("busy-last");

  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= ids.size(); })) << api.stats_json();
  for (const auto& id : ids) EXPECT_TRUE(api.row("project_logs", "default-proj", id)) << id;
  const PromText metrics = scrape(d);
  EXPECT_EQ(metrics.value("spanline_connections_idle_closed_total", {{"listener", "uds"}}), 1);
  EXPECT_EQ(metrics.value("spanline_connections_idle_closed_total", {{"listener", "tcp"}}), 1);
  EXPECT_EQ(metrics.value("spanline_connections_idle_closed_total", {{"listener", "http"}}), 1);
  EXPECT_EQ(metrics.value("spanline_connections", {{"listener", "uds"}}), 1);
  EXPECT_TRUE(d.process->wait_stderr(
      std::regex(R"(info uds: closing idle connection conn#\d+ pid=\d+ \(no input for 1000 ms)"), 5s))
      << d.process->stderr_text();
  EXPECT_TRUE(d.process->wait_stderr(std::regex(R"(info tcp: closing idle connection 127\.0\.0\.1:\d+)"), 5s));
  busy_uds.close();
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("delivered"), ids.size());
}

// ---- connection limit ----------------------------------------------------------------------

TEST(DaemonLimits, ConnectionLimitRefusesExtrasAndExistingOnesKeepWorking) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--ingest.max_connections=2"});
  auto open_connections = [&](const char* listener) {
    return metric(d, "spanline_connections", {{"listener", listener}});
  };

  asio::io_context io;
  using Uds = asio::local::stream_protocol;
  Uds::socket first(io), second(io), extra(io), later(io);
  first.connect(Uds::endpoint(d.uds));
  second.connect(Uds::endpoint(d.uds));
  asio::write(first, asio::buffer(line("limit-1a")));
  asio::write(second, asio::buffer(line("limit-2a")));
  ASSERT_TRUE(wait_until([&] { return open_connections("uds") == 2; }, 10s));

  // The kernel completes the connect; the daemon then closes it at once.
  extra.connect(Uds::endpoint(d.uds));
  EXPECT_TRUE(closed_by_daemon(extra.native_handle(), 10s));
  EXPECT_EQ(metric(d, "spanline_connections_refused_total", {{"listener", "uds"}}), 1);
  EXPECT_TRUE(d.process->wait_stderr(
      std::regex(R"(warn uds: refusing a connection: ingest.max_connections \(2\) reached)"), 5s))
      << d.process->stderr_text();

  // The two admitted connections are untouched.
  asio::write(first, asio::buffer(line("limit-1b")));
  asio::write(second, asio::buffer(line("limit-2b")));
  EXPECT_TRUE(still_open(first.native_handle()));
  EXPECT_TRUE(still_open(second.native_handle()));

  // A freed slot admits a new connection.
  first.close();
  ASSERT_TRUE(wait_until([&] { return open_connections("uds") == 1; }, 10s));
  later.connect(Uds::endpoint(d.uds));
  asio::write(later, asio::buffer(line("limit-later")));
  ASSERT_TRUE(wait_until([&] { return open_connections("uds") == 2; }, 10s));

  // The HTTP ingest has the same limit: two silent connections fill it.
  asio::ip::tcp::socket h1(io), h2(io);
  h1.connect(tcp_endpoint(d.http));
  h2.connect(tcp_endpoint(d.http));
  ASSERT_TRUE(wait_until([&] { return open_connections("http") == 2; }, 10s));
  EXPECT_ANY_THROW(d.post("/v1/project_logs/default-proj/insert", R"({"events":[{"id":"x"}]})"));
  EXPECT_EQ(metric(d, "spanline_connections_refused_total", {{"listener", "http"}}), 1);
  h1.close();
  ASSERT_TRUE(wait_until([&] { return open_connections("http") == 1; }, 10s));
  EXPECT_EQ(d.post("/v1/project_logs/default-proj/insert", R"({"events":[{"id":"limit-http"}]})").status,
            200);

  const std::set<std::string> ids = {"limit-1a", "limit-2a", "limit-1b", "limit-2b", "limit-later", "limit-http"};
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= ids.size(); })) << api.stats_json();
  for (const auto& id : ids) EXPECT_TRUE(api.row("project_logs", "default-proj", id)) << id;
  second.close();
  later.close();
  h2.close();
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("delivered"), ids.size());
}

// ---- body size limit -----------------------------------------------------------------------

// POSTs `body` in one blocking write, then reads the answer, like a simple client that does
// not watch for an early answer while it uploads.
HttpAnswer post_then_read(const std::string& url, const std::string& target, const std::string& body) {
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect(tcp_endpoint(url));
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();
  http::write(socket, request);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()), response.body()};
}

TEST(DaemonLimits, BodyOverTheLimitGets413WithAJsonError) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--ingest.max_line_bytes=65536", "--ingest.max_body_bytes=65536"});
  const std::string target = "/v1/project_logs/default-proj/insert";
  auto body_of = [](std::size_t pad) {
    return R"({"events":[{"id":"too-big","input":")" + std::string(pad, 'b') + "\"}]}";
  };

  // Just over the limit, and far over it (more than the socket buffers hold: the daemon must
  // read the rest away rather than reset the connection under its own answer).
  for (const std::size_t pad : {std::size_t{70'000}, std::size_t{8} << 20}) {
    HttpAnswer answer;
    ASSERT_NO_THROW(answer = post_then_read(d.http, target, body_of(pad))) << pad;
    ASSERT_EQ(answer.status, 413) << pad << ": " << answer.body;
    const auto error = boost::json::parse(answer.body).at("error").as_object();
    const std::string message(error.at("message").as_string());
    EXPECT_NE(message.find("65536 bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("ingest.max_body_bytes"), std::string::npos) << message;
    EXPECT_EQ(error.at("reason").as_string(), "body_too_large");
    EXPECT_EQ(error.at("max_body_bytes").as_int64(), 65536);
  }
  // At the limit is fine.
  const std::string fits = R"({"events":[{"id":"fits","input":")";
  const std::string at_limit = fits + std::string(65536 - fits.size() - 4, 'f') + "\"}]}";
  ASSERT_EQ(at_limit.size(), 65536u);
  EXPECT_EQ(d.post(target, at_limit).status, 200);

  ASSERT_TRUE(wait_until([&] { return api.row("project_logs", "default-proj", "fits").has_value(); }));
  const PromText metrics = scrape(d);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "413"}}), 2);
  EXPECT_EQ(metrics.value("spanline_http_ingest_responses_total", {{"code", "200"}}), 1);
  const auto summary = stop_daemon(d);
  EXPECT_EQ(summary.at("delivered"), 1u);
  EXPECT_FALSE(api.row("project_logs", "default-proj", "too-big"));
}

}  // namespace
}  // namespace spanline::testing
