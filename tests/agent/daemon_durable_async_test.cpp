// Durable ingest (ingest.ack = "durable") answers asynchronously: a request waiting for its
// fsync holds no I/O thread. End to end with the real spanlined binary on ONE I/O thread:
// many concurrent durable requests and stream reads are all acknowledged and share group
// commits; other requests are served while a commit is stuck; and a request still waiting
// for its commit when the daemon stops gets an answer or a clean close, never a hang.
//
// Every client here reads with a deadline (poll(2)), so a daemon that stops answering fails
// the test instead of hanging it.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <latch>
#include <mutex>
#include <set>

namespace spanline::testing {
namespace {

using fakeapi::FakeApi;
using fakeapi::FaultConfig;
using fakeapi::ServerConfig;

const std::string kApiKey = "sk-durable-async-test-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

ServerConfig fake_config() {
  ServerConfig config;
  config.api_key = kApiKey;
  return config;
}

ServerConfig fake_config_in_outage() {
  ServerConfig config = fake_config();
  config.faults.outage_start_s = 0;
  config.faults.outage_duration_s = 24 * 3600;
  return config;
}

// Durable spanlined with a single I/O thread (the point of these tests), HTTP, UDS and admin.
RunningDaemon start_daemon(const FakeApi& api, const TempDir& dir, const std::string& spool_dir,
                           std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--ingest.uds_path=" + dir.file("s.sock"),
                                   "--ingest.datagram_path=off",
                                   "--ingest.tcp_listen=off",
                                   "--ingest.http_listen=127.0.0.1:0",
                                   "--admin.listen=127.0.0.1:0",
                                   "--destination.project_id=default-proj",
                                   "--ingest.threads=1",
                                   "--batch.linger_ms=5",
                                   "--retry.max_delay_ms=500",
                                   "--spool.dir=" + spool_dir,
                                   "--ingest.ack=durable"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api.base_url(), kApiKey);
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

std::vector<std::string> make_ids(const std::string& prefix, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(prefix + "-" + std::to_string(i));
  return ids;
}

// A socket whose reads wait at most a deadline. Outcome of one exchange: an answer, the
// daemon closing the connection (end of file or reset), or nothing within the deadline.
class Connection {
 public:
  enum class Outcome { answered, closed, timed_out };

  static Connection tcp(const std::string& url) {
    const std::string rest = url.substr(url.find("//") + 2);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(rest.substr(rest.rfind(':') + 1))));
    ::inet_pton(AF_INET, rest.substr(0, rest.rfind(':')).c_str(), &address.sin_addr);
    Connection c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
      throw std::runtime_error("connect " + url + ": " + std::strerror(errno));
    return c;
  }
  static Connection unix_socket(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    Connection c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(c.fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
      throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
    return c;
  }
  Connection(Connection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}
  Connection& operator=(Connection&&) = delete;
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }

  // False when the daemon has closed the connection.
  bool send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // One HTTP/1.1 request on this (keep-alive) connection.
  Outcome http(const std::string& method, const std::string& target, const std::string& body,
               HttpAnswer& answer, std::chrono::milliseconds timeout = 20s) {
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    request += "Authorization: Bearer " + kApiKey + "\r\n";
    if (!body.empty()) request += "Content-Type: application/json\r\n";
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    if (!send(request)) return Outcome::closed;
    return read_http(answer, timeout);
  }

  // The answer to a request already sent.
  Outcome read_http(HttpAnswer& answer, std::chrono::milliseconds timeout = 20s) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      // The parser stops after the header, so feed it until it takes nothing more.
      for (std::size_t used = 1; used > 0 && !pending_.empty();) {
        boost::beast::error_code ec;
        used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != http::error::need_more) throw std::runtime_error("bad HTTP answer: " + ec.message());
        if (parser.is_done()) {
          answer.status = static_cast<int>(parser.get().result_int());
          answer.body = parser.get().body();
          return Outcome::answered;
        }
      }
      const Outcome got = receive(deadline);
      if (got != Outcome::answered) return got;
    }
  }

  // The next line without its '\n'.
  Outcome line(std::string& out, std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
        out = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return Outcome::answered;
      }
      const Outcome got = receive(deadline);
      if (got != Outcome::answered) return got;
    }
  }

 private:
  explicit Connection(int fd) : fd_(fd) {
    if (fd_ < 0) throw std::runtime_error("socket");
  }

  // Appends what arrives before `deadline`; answered means "got some bytes".
  Outcome receive(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return Outcome::timed_out;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      char buffer[16384];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Outcome::closed;
      pending_.append(buffer, static_cast<std::size_t>(n));
      return Outcome::answered;
    }
  }

  int fd_ = -1;
  std::string pending_;
};

// GET on a fresh connection, with a deadline.
std::optional<HttpAnswer> get_within(const std::string& url, const std::string& target,
                                     std::chrono::milliseconds timeout = 10s) {
  Connection c = Connection::tcp(url);
  HttpAnswer answer;
  if (c.http("GET", target, "", answer, timeout) != Connection::Outcome::answered) return std::nullopt;
  return answer;
}

std::optional<PromText> scrape_within(const RunningDaemon& d, std::chrono::milliseconds timeout = 10s) {
  const auto answer = get_within(d.admin, "/metrics", timeout);
  if (!answer || answer->status != 200) return std::nullopt;
  PromText text = parse_prometheus(answer->body);
  for (const auto& e : text.errors) ADD_FAILURE() << e;
  return text;
}

std::string ndjson(const std::string& prefix, int from, int count) {
  std::string out;
  for (int i = from; i < from + count; ++i)
    out += R"({"id":")" + prefix + std::to_string(i) + R"(","input":"streamed"})" + "\n";
  return out;
}

std::string reason_of(const std::string& body) {
  try {
    return std::string(boost::json::parse(body).at("error").at("reason").as_string());
  } catch (const std::exception&) {
    return "(no reason in '" + body + "')";
  }
}

// 32 HTTP clients on keep-alive connections and 8 stream clients, all at once, against one
// I/O thread. Every request and every stream read is acknowledged, every row arrives, and the
// spool holds fewer records than there were requests: commits were shared. (Were a waiting
// request to hold the I/O thread, each would be a commit of its own.)
TEST(DaemonDurableAsync, ManyConcurrentRequestsOnOneIoThreadAreAllAcknowledged) {
  FakeApi api(fake_config());
  TempDir dir;
  RunningDaemon d = start_daemon(api, dir, dir.file("spool"));

  constexpr int kHttpClients = 32;
  constexpr int kRequests = 4;
  constexpr int kRows = 10;
  constexpr int kStreamClients = 8;
  constexpr int kChunks = 4;
  constexpr int kLinesPerChunk = 25;
  std::latch start(kHttpClients + kStreamClients);
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(failures_mutex);
    failures.push_back(std::move(what));
  };
  std::vector<std::thread> clients;
  for (int c = 0; c < kHttpClients; ++c) {
    clients.emplace_back([&, c] {
      Connection connection = Connection::tcp(d.http);
      start.arrive_and_wait();
      for (int r = 0; r < kRequests; ++r) {
        const auto ids = make_ids("h" + std::to_string(c) + "-" + std::to_string(r), kRows);
        HttpAnswer answer;
        const auto outcome =
            connection.http("POST", "/v1/project_logs/async-proj/insert", insert_body(ids), answer);
        if (outcome != Connection::Outcome::answered || answer.status != 200) {
          fail("http client " + std::to_string(c) + " request " + std::to_string(r) + ": outcome " +
               std::to_string(static_cast<int>(outcome)) + " status " + std::to_string(answer.status) + " " +
               answer.body);
          return;
        }
        if (boost::json::parse(answer.body).at("row_ids").as_array().size() != ids.size())
          fail("wrong row_ids: " + answer.body);
      }
    });
  }
  for (int c = 0; c < kStreamClients; ++c) {
    clients.emplace_back([&, c] {
      Connection connection = Connection::unix_socket(d.uds);
      start.arrive_and_wait();
      const std::string prefix = "s" + std::to_string(c) + "-";
      for (int chunk = 0; chunk < kChunks; ++chunk) {
        connection.send(ndjson(prefix, chunk * kLinesPerChunk, kLinesPerChunk));
        // A chunk may arrive in more than one read; each read gets its own answer.
        const auto want = static_cast<std::uint64_t>((chunk + 1) * kLinesPerChunk);
        std::uint64_t acked = 0;
        while (acked < want) {
          std::string line;
          if (connection.line(line) != Connection::Outcome::answered) {
            fail("stream client " + std::to_string(c) + ": no answer after " + std::to_string(acked) +
                 " lines");
            return;
          }
          unsigned long long durable = 0, lines = 0;
          if (std::sscanf(line.c_str(), "ack %llu %llu", &durable, &lines) != 2 || durable != lines) {
            fail("stream client " + std::to_string(c) + ": unexpected answer '" + line + "'");
            return;
          }
          acked = lines;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const auto& f : failures) ADD_FAILURE() << f;
  ASSERT_TRUE(failures.empty()) << d.process->stderr_text();

  constexpr std::size_t kHttpRows = kHttpClients * kRequests * kRows;
  constexpr std::size_t kStreamRows = kStreamClients * kChunks * kLinesPerChunk;
  ASSERT_TRUE(wait_until([&] { return api.stats().unique_rows >= kHttpRows + kStreamRows; }))
      << api.stats_json() << d.process->stderr_text();
  std::size_t missing = 0;
  for (int c = 0; c < kHttpClients; ++c)
    for (int r = 0; r < kRequests; ++r)
      for (const auto& id : make_ids("h" + std::to_string(c) + "-" + std::to_string(r), kRows))
        missing += api.row("project_logs", "async-proj", id) ? 0 : 1;
  for (int c = 0; c < kStreamClients; ++c)
    for (int i = 0; i < kChunks * kLinesPerChunk; ++i)
      missing +=
          api.row("project_logs", "default-proj", "s" + std::to_string(c) + "-" + std::to_string(i)) ? 0 : 1;
  EXPECT_EQ(missing, 0u);

  const auto metrics = scrape_within(d);
  ASSERT_TRUE(metrics);
  const double requests = kHttpClients * kRequests;
  EXPECT_EQ(
      metrics->value("spanline_ingest_durable_rows_total", {{"listener", "http"}, {"result", "durable"}}),
      static_cast<double>(kHttpRows));
  EXPECT_EQ(
      metrics->value("spanline_ingest_durable_rows_total", {{"listener", "uds"}, {"result", "durable"}}),
      static_cast<double>(kStreamRows));
  EXPECT_EQ(metrics->value("spanline_ingest_durable_commits_total", {{"listener", "http"}}), requests);
  EXPECT_EQ(metrics->value("spanline_http_ingest_responses_total", {{"code", "200"}}), requests);
  const double records = metrics->value("spanline_spool_records_written_total").value_or(-1);
  EXPECT_GT(records, 0);
  EXPECT_LT(records, requests) << "every request was a spool record (and an fsync) of its own";
  std::cout << "[ info ] " << requests << " requests and " << kStreamClients << " streams in " << records
            << " spool records\n";

  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(30s), 0) << d.process->stderr_text();
  EXPECT_EQ(d.process->stderr_text().find(kApiKey), std::string::npos);
}

// A commit that cannot finish (the spool is full, the API is down, and spool.full_policy =
// block waits for room) holds no I/O thread: the single I/O thread still answers other
// requests and the metrics. At SIGTERM the waiting HTTP request and the stream read queued
// behind it each get their refusal (reason "closed") or a clean close, and the daemon exits
// within its deadline.
TEST(DaemonDurableAsync, WaitingRequestsGetAnAnswerOrACleanCloseAtShutdown) {
  FakeApi api(fake_config_in_outage());
  TempDir dir;
  RunningDaemon d =
      start_daemon(api, dir, dir.file("spool"),
                   {"--spool.max_bytes=16KiB", "--spool.segment_bytes=4KiB", "--batch.compression=none",
                    "--spool.full_policy=block", "--queue.block_timeout_ms=120000",
                    "--ingest.ack_timeout_ms=120000", "--shutdown.timeout_ms=2000"});
  // Most of the spool: nothing leaves it while the API is down.
  Connection first = Connection::tcp(d.http);
  HttpAnswer answer;
  ASSERT_EQ(first.http("POST", "/v1/project_logs/p/insert", insert_body(make_ids("fill", 10), 1200), answer),
            Connection::Outcome::answered);
  ASSERT_EQ(answer.status, 200) << answer.body;

  // Does not fit: its commit waits for room that never comes.
  const std::string stuck_body = insert_body(make_ids("stuck", 4), 1200);
  Connection stuck = Connection::tcp(d.http);
  ASSERT_TRUE(stuck.send("POST /v1/project_logs/p/insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kApiKey +
                         "\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(stuck_body.size()) + "\r\n\r\n" + stuck_body));
  // The byte counters count a request (or read) before its commit; these scrapes are served
  // by the one I/O thread while the commit waits.
  auto counted = [&](const std::string& listener, std::size_t bytes) {
    return wait_until(
        [&] {
          const auto metrics = scrape_within(d);
          return metrics &&
                 metrics->value("spanline_ingest_bytes_total", {{"listener", listener}}).value_or(0) >=
                     static_cast<double>(bytes);
        },
        20s);
  };
  const std::size_t fill_bytes = insert_body(make_ids("fill", 10), 1200).size();
  ASSERT_TRUE(counted("http", fill_bytes + stuck_body.size()))
      << "the request never reached its commit, or the I/O thread is held\n"
      << d.process->stderr_text();
  // A stream read queued behind it (its lines do not fit either).
  Connection stream = Connection::unix_socket(d.uds);
  std::string lines;
  for (int i = 0; i < 2; ++i)
    lines += R"({"id":"queued-)" + std::to_string(i) + R"(","input":")" + std::string(3000, 'n') + "\"}\n";
  ASSERT_TRUE(stream.send(lines));
  ASSERT_TRUE(counted("uds", lines.size())) << d.process->stderr_text();
  const auto metrics = scrape_within(d);
  ASSERT_TRUE(metrics);
  // Still only the first request answered, and the ingest port still serves other requests.
  EXPECT_EQ(metrics->value("spanline_http_ingest_responses_total", {{"code", "200"}}), 1);
  const auto version = get_within(d.http, "/version");
  ASSERT_TRUE(version) << "the I/O thread is held by a waiting commit";
  EXPECT_EQ(version->status, 200);

  const auto stop_started = std::chrono::steady_clock::now();
  d.process->signal(SIGTERM);
  HttpAnswer refused;
  const auto http_outcome = stuck.read_http(refused, 30s);
  std::string line;
  const auto stream_outcome = stream.line(line, 30s);
  const auto code = d.process->wait_exit(30s);
  const auto stop_took = std::chrono::steady_clock::now() - stop_started;
  ASSERT_EQ(code, 0) << d.process->stderr_text();
  EXPECT_LT(stop_took, 20s);

  EXPECT_NE(http_outcome, Connection::Outcome::timed_out)
      << "the waiting request got neither answer nor close";
  if (http_outcome == Connection::Outcome::answered) {
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(reason_of(refused.body), "closed");
  }
  EXPECT_NE(stream_outcome, Connection::Outcome::timed_out)
      << "the waiting stream got neither answer nor close";
  if (stream_outcome == Connection::Outcome::answered) {
    EXPECT_EQ(line, "nack 0 0 closed");
  }
  std::cout << "[ info ] at SIGTERM the waiting request was "
            << (http_outcome == Connection::Outcome::answered ? "answered" : "closed") << ", the stream "
            << (stream_outcome == Connection::Outcome::answered ? "answered" : "closed") << "; stop took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(stop_took).count() << " ms\n";
}

// SIGTERM while 16 clients keep durable requests in flight: every request ends with 200,
// 503 "closed" or a clean close, never a hang, and every row answered 200 is delivered
// (by this process or, from the spool, by the next one).
TEST(DaemonDurableAsync, StopUnderLoadAnswersOrClosesEveryRequest) {
  FakeApi api(fake_config());
  TempDir dir;
  const std::string spool = dir.file("spool");
  RunningDaemon d = start_daemon(api, dir, spool);

  constexpr int kClients = 16;
  std::mutex mutex;
  std::vector<std::string> acked;
  std::vector<std::string> failures;
  std::atomic<int> acked_requests{0};
  std::atomic<int> refused_closed{0};
  std::atomic<int> closed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::optional<Connection> connection;
      for (int r = 0;; ++r) {
        try {
          if (!connection) connection.emplace(Connection::tcp(d.http));
        } catch (const std::exception&) {
          return;  // the listener is gone
        }
        const auto ids = make_ids("l" + std::to_string(c) + "-" + std::to_string(r), 5);
        HttpAnswer answer;
        const auto outcome =
            connection->http("POST", "/v1/project_logs/stop-proj/insert", insert_body(ids), answer);
        std::lock_guard lock(mutex);
        if (outcome == Connection::Outcome::timed_out) {
          failures.push_back("client " + std::to_string(c) + ": no answer and no close within 20 s");
          return;
        }
        if (outcome == Connection::Outcome::closed) {
          ++closed;
          connection.reset();
          continue;  // reconnects, until the listener is gone
        }
        if (answer.status == 200) {
          acked.insert(acked.end(), ids.begin(), ids.end());
          ++acked_requests;
          continue;
        }
        if (answer.status != 503 || reason_of(answer.body) != "closed") {
          failures.push_back("client " + std::to_string(c) + ": " + std::to_string(answer.status) + " " +
                             answer.body);
          return;
        }
        ++refused_closed;
        return;
      }
    });
  }
  const bool enough = wait_until([&] { return acked_requests >= 200; }, 30s);
  d.process->signal(SIGTERM);
  const auto code = d.process->wait_exit(30s);
  for (auto& t : clients) t.join();
  ASSERT_TRUE(enough) << d.process->stderr_text();
  ASSERT_EQ(code, 0) << d.process->stderr_text();
  for (const auto& f : failures) ADD_FAILURE() << f;
  std::cout << "[ info ] " << acked_requests.load() << " requests acknowledged; at SIGTERM "
            << refused_closed.load() << " refused (closed), " << closed.load() << " connections closed\n";

  // Whatever the first process did not deliver is in the spool for the next one.
  RunningDaemon next = start_daemon(api, dir, spool);
  const std::size_t expected = acked.size();
  std::vector<std::string> missing;
  ASSERT_TRUE(wait_until([&] {
    missing.clear();
    for (const auto& id : acked)
      if (!api.row("project_logs", "stop-proj", id)) missing.push_back(id);
    return missing.empty();
  })) << missing.size()
      << " of " << expected << " acknowledged rows never arrived, first " << missing.front();
  next.process->signal(SIGTERM);
  EXPECT_EQ(next.process->wait_exit(30s), 0) << next.process->stderr_text();
}

}  // namespace
}  // namespace spanline::testing
