// End-to-end: backpressure never blocks spanlined's I/O thread. The real binary as a child
// process with one I/O thread, a small memory budget and a slow (or failing) fake API, fed
// by clients that never stop sending. Whatever the overflow policy, the admin endpoint keeps
// answering, a stream client that does not fit is held back through its socket, and SIGTERM
// ends the daemon within shutdown.timeout_ms + 1 s.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace spanline::testing {
namespace {

namespace asio = boost::asio;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
using Clock = std::chrono::steady_clock;

const std::string kApiKey = "sk-backpressure-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";
constexpr auto kShutdownTimeout = 3000ms;

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

RunningDaemon start_daemon(const FakeApi& api, const TempDir& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--ingest.uds_path=" + dir.file("s.sock"),
                                   "--ingest.datagram_path=" + dir.file("d.sock"),
                                   "--ingest.tcp_listen=127.0.0.1:0",
                                   "--ingest.http_listen=127.0.0.1:0",
                                   "--admin.listen=127.0.0.1:0",
                                   "--ingest.threads=1",
                                   "--batch.linger_ms=5",
                                   "--destination.project_id=bp-proj"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
}

double metric(const RunningDaemon& d, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  return parse_prometheus(http_get(d.admin, "/metrics").body).value(name, labels).value_or(-1);
}

std::string event_line(const std::string& id, std::size_t pad = 400) {
  return R"({"id":")" + id + R"(","input":")" + std::string(pad, 'p') + "\"}\n";
}

asio::ip::tcp::endpoint tcp_endpoint(const std::string& address) {
  std::string rest = address;
  if (const auto scheme = rest.find("//"); scheme != std::string::npos) rest = rest.substr(scheme + 2);
  const auto colon = rest.rfind(':');
  return {asio::ip::make_address(rest.substr(0, colon)),
          static_cast<unsigned short>(std::stoi(rest.substr(colon + 1)))};
}

// Writes `data` without blocking for longer than `timeout`; returns the bytes written (fewer
// when the daemon stopped reading and the socket buffers filled up).
std::size_t write_some_within(int fd, std::string_view data, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;  // closed
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLOUT, 0};
    (void)::poll(&p, 1, static_cast<int>(std::min<long long>(left, 50)));
  }
  return done;
}

// Clients that send until told to stop, on every listener, each at the pace the daemon
// takes its input (stream writes wait in poll while it holds them back).
class Flood {
 public:
  explicit Flood(const RunningDaemon& d) {
    threads_.emplace_back([this, path = d.uds] { stream<asio::local::stream_protocol>(path, "uds"); });
    threads_.emplace_back([this, path = d.uds] { stream<asio::local::stream_protocol>(path, "uds2"); });
    threads_.emplace_back([this, address = d.tcp] { stream<asio::ip::tcp>(address, "tcp"); });
    threads_.emplace_back([this, path = d.datagram] { datagrams(path); });
    threads_.emplace_back([this, url = d.http, auth = d.bearer()] { http(url, auth); });
  }
  ~Flood() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::uint64_t http_503() const { return http_503_; }

 private:
  template <class Protocol>
  void stream(const std::string& address, const std::string& name) {
    try {
      asio::io_context io;
      typename Protocol::socket socket(io);
      if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        socket.connect(tcp_endpoint(address));
      } else {
        socket.connect(typename Protocol::endpoint(address));
      }
      std::string chunk;
      for (std::uint64_t i = 0; !stop_; ++i) {
        chunk.clear();
        for (int k = 0; k < 32; ++k)
          chunk += event_line(name + "-" + std::to_string(i) + "-" + std::to_string(k));
        std::string_view rest = chunk;
        while (!rest.empty() && !stop_) {
          const std::size_t n = write_some_within(socket.native_handle(), rest, 50ms);
          if (n == 0 && !still_connected(socket.native_handle())) return;
          rest.remove_prefix(n);
        }
      }
    } catch (const std::exception&) {
      // The daemon went away under us: the flood is over.
    }
  }

  static bool still_connected(int fd) {
    pollfd p{fd, POLLOUT, 0};
    return ::poll(&p, 1, 0) >= 0 && (p.revents & (POLLERR | POLLHUP)) == 0;
  }

  void datagrams(const std::string& path) {
    try {
      asio::io_context io;
      asio::local::datagram_protocol::socket socket(io);
      socket.open();
      socket.connect(asio::local::datagram_protocol::endpoint(path));
      for (std::uint64_t i = 0; !stop_; ++i) {
        const std::string line = event_line("dgram-" + std::to_string(i));
        if (::send(socket.native_handle(), line.data(), line.size(), MSG_DONTWAIT) < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) return;  // the daemon is gone
          pollfd p{socket.native_handle(), POLLOUT, 0};
          (void)::poll(&p, 1, 20);
        }
      }
    } catch (const std::exception&) {
    }
  }

  void http(const std::string& url, const std::map<std::string, std::string>& auth) {
    for (std::uint64_t i = 0; !stop_; ++i) {
      try {
        const HttpAnswer answer = http_request(url, boost::beast::http::verb::post, "/v1/project_logs/bp-proj/insert",
                                               R"({"events":[{"id":"http-)" + std::to_string(i) +
                                                   R"(","input":")" + std::string(400, 'h') + "\"}]}",
                                               auth);
        if (answer.status == 503) ++http_503_;
      } catch (const std::exception&) {
        return;  // the daemon is gone
      }
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> http_503_{0};
  std::vector<std::thread> threads_;
};

// How long one GET takes, on a fresh connection (as a health checker makes it).
Clock::duration probe(const std::string& url, const std::string& target, int& status,
                      const std::map<std::string, std::string>& headers = {}) {
  const auto started = Clock::now();
  status = http_request(url, boost::beast::http::verb::get, target, {}, headers).status;
  return Clock::now() - started;
}

class DaemonBackpressure : public ::testing::TestWithParam<std::string> {};

// A slow upstream (every answer takes 30 s) and clients flooding every listener: the budget
// fills up and stays full. /healthz, /metrics and the ingest's /version still answer at
// once, and SIGTERM ends the daemon within the shutdown deadline plus a second.
TEST_P(DaemonBackpressure, AdminAnswersAndSigtermExitsInTimeWhileClientsFloodASlowUpstream) {
  const std::string policy = GetParam();
  ServerConfig config = fake_config();
  config.faults.latency_ms = 30'000;
  FakeApi api(config);
  TempDir dir;
  std::vector<std::string> args = {"--queue.overflow=" + policy, "--queue.max_bytes=65536",
                                   "--queue.block_timeout_ms=5000", "--ingest.ack_timeout_ms=1000",
                                   "--shutdown.timeout_ms=" + std::to_string(kShutdownTimeout.count())};
  if (policy == "spill") args.push_back("--spool.dir=" + dir.file("spool"));
  RunningDaemon d = start_daemon(api, dir, args);

  Flood flood(d);
  // The budget is full (the first batches wait 30 s for their answer), or has overflowed.
  ASSERT_TRUE(wait_until([&] { return metric(d, "spanline_memory_bytes") >= 32 * 1024; }, 30s))
      << d.process->stderr_text();

  int status = 0;
  std::vector<Clock::duration> latencies;
  for (int i = 0; i < 10; ++i) {
    latencies.push_back(probe(d.admin, "/healthz", status));
    EXPECT_EQ(status, 200);
  }
  std::sort(latencies.begin(), latencies.end());
  // Every probe answers; allow one slow one on a loaded machine, but not two.
  EXPECT_LT(latencies[8], 100ms)
      << "second slowest /healthz took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(latencies[8]).count() << " ms";
  EXPECT_LT(latencies[9], 1s);
  EXPECT_LT(probe(d.admin, "/metrics", status), 1s);
  EXPECT_EQ(status, 200);
  EXPECT_LT(probe(d.http, "/version", status, d.bearer()), 1s);
  EXPECT_EQ(status, 200);

  const auto signalled = Clock::now();
  d.process->signal(SIGTERM);
  const std::optional<int> code = d.process->wait_exit(30s);
  const auto took = Clock::now() - signalled;
  flood.stop();
  ASSERT_TRUE(code.has_value()) << "spanlined did not exit within 30 s of SIGTERM";
  EXPECT_EQ(*code, 0) << d.process->stderr_text();
  EXPECT_LT(took, kShutdownTimeout + 1s)
      << "SIGTERM took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n"
      << d.process->stderr_text();
  EXPECT_NE(d.process->stdout_text().find("spanlined stopped:"), std::string::npos)
      << d.process->stdout_text();
}

INSTANTIATE_TEST_SUITE_P(Policies, DaemonBackpressure,
                         ::testing::Values("block", "drop_newest", "drop_oldest", "spill"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Under block, a stream client whose rows do not fit is not read any more: its writes stall
// (the socket buffers fill up), nothing of it is dropped, and everything it wrote is
// delivered once the outage ends. Meanwhile a datagram that finds no room is dropped and
// counted, an HTTP request waits ingest.ack_timeout_ms and gets 503, and the admin endpoint
// answers.
TEST(DaemonBackpressureBlock, AStreamThatDoesNotFitIsHeldBackAndLosesNothing) {
  ServerConfig config = fake_config();
  config.faults.fail_5xx = 1.0;  // an outage: accepted rows stay in the budget, retried
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d =
      start_daemon(api, dir,
                   {"--queue.overflow=block", "--queue.max_bytes=65536", "--ingest.ack_timeout_ms=300",
                    "--retry.base_delay_ms=20", "--retry.max_delay_ms=100"});
  asio::io_context io;
  asio::local::stream_protocol::socket client(io);
  client.connect(asio::local::stream_protocol::endpoint(d.uds));

  // Write until the writes stall for a whole second: the daemon has stopped reading.
  std::uint64_t lines = 0;
  std::string pending;
  const auto started = Clock::now();
  for (;;) {
    ASSERT_LT(Clock::now() - started, 60s) << "the daemon never held the client back";
    if (pending.empty()) pending = event_line("held-" + std::to_string(lines++), 1000);
    const std::size_t n = write_some_within(client.native_handle(), pending, 1s);
    if (n == 0) break;
    pending.erase(0, n);
  }
  const std::uint64_t complete_lines = pending.empty() ? lines : lines - 1;
  // Far more than the 64 KiB budget was written: the rest waits in the socket buffers.
  EXPECT_GT(complete_lines, 64u);

  int status = 0;
  EXPECT_LT(probe(d.admin, "/healthz", status), 1s);
  EXPECT_EQ(status, 200);
  // A datagram finds no room: dropped at once and counted.
  {
    asio::local::datagram_protocol::socket socket(io);
    socket.open();
    const std::string line = event_line("dgram-dropped");
    socket.send_to(asio::buffer(line), asio::local::datagram_protocol::endpoint(d.datagram));
    EXPECT_TRUE(wait_until(
        [&] {
          return metric(d, "spanline_ingest_not_queued_total", {{"listener", "datagram"}}) == 1;
        },
        10s));
  }
  // An HTTP request waits for room, then gets 503.
  const HttpAnswer refused = d.post("/v1/project_logs/bp-proj/insert", R"({"events":[{"id":"http-refused","input":"x"}]})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("dropped_queue_full"), std::string::npos) << refused.body;
  EXPECT_EQ(metric(d, "spanline_ingest_not_queued_total", {{"listener", "uds"}}), 0);
  EXPECT_GE(metric(d, "spanline_ingest_waits_for_room_total", {{"listener", "uds"}}), 1);
  EXPECT_EQ(metric(d, "spanline_ingest_waits_for_room_total", {{"listener", "http"}}), 1);

  // The outage ends: the held-back client is read again, and every line it wrote arrives.
  api.set_faults({});
  if (!pending.empty()) {
    ASSERT_EQ(write_some_within(client.native_handle(), pending, 30s), pending.size());
    pending.clear();
  }
  client.close();
  ASSERT_TRUE(wait_until([&] { return api.row_count("project_logs", "bp-proj") >= lines; }, 60s))
      << api.stats_json();
  for (std::uint64_t i = 0; i < lines; ++i)
    ASSERT_TRUE(api.row("project_logs", "bp-proj", "held-" + std::to_string(i))) << i;
  EXPECT_FALSE(api.row("project_logs", "bp-proj", "http-refused"));
  EXPECT_EQ(metric(d, "spanline_ingest_events_total", {{"listener", "uds"}}), static_cast<double>(lines));
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(30s), 0) << d.process->stderr_text();
}

// Fills a 64 KiB budget over the Unix socket until the daemon stops reading it.
void fill_budget(const RunningDaemon& d, asio::local::stream_protocol::socket& client) {
  client.connect(asio::local::stream_protocol::endpoint(d.uds));
  std::string pending;
  for (std::uint64_t i = 0;; ++i) {
    pending = event_line("fill-" + std::to_string(i), 1000);
    if (write_some_within(client.native_handle(), pending, 1s) < pending.size()) return;
  }
}

// Under block, an HTTP insert that does not fit waits (without holding the I/O thread) and
// is answered 200 once delivery frees room within ingest.ack_timeout_ms. One still waiting
// when SIGTERM comes is answered 503 (shutting down) at once.
TEST(DaemonBackpressureBlock, AnHttpInsertWaitsForRoomAndIsAnsweredWhenItFrees) {
  ServerConfig config = fake_config();
  config.faults.fail_5xx = 1.0;
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d =
      start_daemon(api, dir,
                   {"--queue.overflow=block", "--queue.max_bytes=65536", "--ingest.ack_timeout_ms=60000",
                    "--retry.base_delay_ms=20", "--retry.max_delay_ms=100"});
  asio::io_context io;
  asio::local::stream_protocol::socket client(io);
  fill_budget(d, client);

  const std::string target = "/v1/project_logs/bp-proj/insert";
  auto waiting = std::async(std::launch::async, [&] {
    return d.post(target, R"({"events":[{"id":"http-waited","input":"x"}]})");
  });
  ASSERT_TRUE(wait_until(
      [&] {
        return metric(d, "spanline_ingest_waits_for_room_total", {{"listener", "http"}}) == 1;
      },
      30s));
  EXPECT_EQ(waiting.wait_for(0s), std::future_status::timeout);  // still waiting
  int status = 0;
  EXPECT_LT(probe(d.admin, "/healthz", status), 1s);

  api.set_faults({});  // deliveries free the budget
  ASSERT_EQ(waiting.wait_for(30s), std::future_status::ready);
  const HttpAnswer answer = waiting.get();
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_NE(answer.body.find("http-waited"), std::string::npos) << answer.body;
  ASSERT_TRUE(wait_until([&] { return api.row("project_logs", "bp-proj", "http-waited").has_value(); }, 30s));
  client.close();
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(30s), 0) << d.process->stderr_text();
}

TEST(DaemonBackpressureBlock, SigtermAnswersAWaitingHttpInsertAtOnce) {
  ServerConfig config = fake_config();
  config.faults.fail_5xx = 1.0;
  FakeApi api(config);
  TempDir dir;
  RunningDaemon d =
      start_daemon(api, dir,
                   {"--queue.overflow=block", "--queue.max_bytes=65536", "--ingest.ack_timeout_ms=60000",
                    "--shutdown.timeout_ms=" + std::to_string(kShutdownTimeout.count())});
  asio::io_context io;
  asio::local::stream_protocol::socket client(io);
  fill_budget(d, client);
  auto waiting = std::async(std::launch::async, [&] {
    return d.post("/v1/project_logs/bp-proj/insert", R"({"events":[{"id":"http-cut","input":"x"}]})");
  });
  ASSERT_TRUE(wait_until(
      [&] {
        return metric(d, "spanline_ingest_waits_for_room_total", {{"listener", "http"}}) == 1;
      },
      30s));
  const auto signalled = Clock::now();
  d.process->signal(SIGTERM);
  // Answered well before the drain's deadline, which an outage uses up in full.
  ASSERT_EQ(waiting.wait_for(kShutdownTimeout / 3), std::future_status::ready);
  const HttpAnswer answer = waiting.get();
  EXPECT_EQ(answer.status, 503) << answer.body;
  EXPECT_NE(answer.body.find("dropped_shutdown"), std::string::npos) << answer.body;
  const std::optional<int> code = d.process->wait_exit(30s);
  EXPECT_LT(Clock::now() - signalled, kShutdownTimeout + 1s);
  EXPECT_EQ(code, 0) << d.process->stderr_text();
}

// A client that trickles one byte at a time keeps its connection busy but never ends its
// line: the line's deadline runs from its first byte (ingest.idle_timeout_ms) and reads do
// not extend it. A neighbour that completes its lines is kept.
TEST(DaemonLineDeadline, ALineThatIsNotCompletedInTimeClosesItsConnection) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, {"--ingest.idle_timeout_ms=1000"});
  asio::io_context io;
  asio::local::stream_protocol::socket trickle(io), busy(io);
  trickle.connect(asio::local::stream_protocol::endpoint(d.uds));
  busy.connect(asio::local::stream_protocol::endpoint(d.uds));

  const std::string slow_line = event_line("never-finished");
  const auto started = Clock::now();
  bool closed = false;
  std::size_t sent = 0;
  int busy_lines = 0;
  // One byte, and one complete line on the neighbour, every 150 ms: each well inside the
  // idle timeout, so only the line deadline can end the trickle.
  while (!closed && Clock::now() - started < 10s && sent + 1 < slow_line.size()) {
    if (write_some_within(trickle.native_handle(), std::string_view(slow_line).substr(sent, 1), 1s) == 1)
      ++sent;
    asio::write(busy, asio::buffer(event_line("busy-" + std::to_string(busy_lines++))));
    pollfd p{trickle.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 150) > 0) {
      char byte = 0;
      closed = ::recv(trickle.native_handle(), &byte, 1, MSG_DONTWAIT) <= 0;
    }
  }
  const auto took = Clock::now() - started;
  ASSERT_TRUE(closed) << "a trickling client survived " << sent << " bytes\n" << d.process->stderr_text();
  EXPECT_GE(took, 900ms);  // not before its deadline
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(d.process->wait_stderr(
      std::regex(R"(info uds: closing connection conn#\d+ pid=\d+ \(a line not completed within 1000 ms)"),
      5s))
      << d.process->stderr_text();
  EXPECT_TRUE(wait_until(
      [&] {
        return metric(d, "spanline_ingest_invalid_total",
                      {{"listener", "uds"}, {"reason", "partial_line"}}) == 1;
      },
      10s));

  // The neighbour is still served.
  asio::write(busy, asio::buffer(event_line("busy-last")));
  ASSERT_TRUE(wait_until([&] { return api.row("project_logs", "bp-proj", "busy-last").has_value(); }, 30s));
  for (int i = 0; i < busy_lines; ++i)
    EXPECT_TRUE(api.row("project_logs", "bp-proj", "busy-" + std::to_string(i)));
  EXPECT_FALSE(api.row("project_logs", "bp-proj", "never-finished"));
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(30s), 0) << d.process->stderr_text();
}

}  // namespace
}  // namespace spanline::testing
