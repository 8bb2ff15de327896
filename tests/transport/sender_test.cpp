#include "transport/sender.hpp"

#include "batch/batch.hpp"
#include "accounting/accounting.hpp"
#include "destinations/destination_table.hpp"
#include "errors/error_reporter.hpp"
#include "core/row.hpp"
#include "fake_api.hpp"
#include "metrics/counters.hpp"
#include "accounting/memory_budget.hpp"
#include "spool/row_keys.hpp"
#include "spool/spool.hpp"
#include "support/spool_support.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace spanline::detail {
namespace {

using namespace std::chrono_literals;
using fakeapi::FakeApi;
using fakeapi::ServerConfig;
namespace net = boost::asio;
namespace http = boost::beast::http;

constexpr auto kWait = 30s;  // generous: the suite runs on a loaded 2-core machine

// The pipeline pieces a Sender reports to, with every error report kept.
struct Pipeline {
  Pipeline() {
    errors.set_handler([this](const ErrorReport& report) {
      std::lock_guard lock(mutex);
      reports.push_back(report);
    });
  }

  Batch batch(std::uint32_t destination, const std::string& id_prefix, int count, std::size_t pad = 100) {
    Batch batch;
    batch.destination = destination;
    batch.opened = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) {
      BatchEvent event;
      event.json =
          R"({"id":")" + id_prefix + std::to_string(i) + R"(","input":")" + std::string(pad, 'x') + "\"}";
      event.budget_bytes = event.json.size() + kRowOverheadBytes;
      EXPECT_TRUE(budget.try_acquire(event.budget_bytes));
      batch.events.push_back(std::move(event));
    }
    encode(batch, Compression::zstd, 1);
    return batch;
  }

  void submit(Sender& sender, Batch batch) {
    const auto rows = batch.source_rows();
    counters.rows_in.fetch_add(rows);
    submitted += rows;
    sender.submit(std::move(batch));
  }

  // Every submitted row delivered, rejected or dropped.
  bool settled() {
    return accounting.wait_until_settled(submitted, std::chrono::steady_clock::now() + kWait) &&
           counters.rows_settled.load() == submitted;
  }

  std::vector<ErrorReport> reports_with_status(int status) {
    std::lock_guard lock(mutex);
    std::vector<ErrorReport> out;
    for (const auto& report : reports)
      if (report.http_status == status) out.push_back(report);
    return out;
  }
  std::vector<ErrorReport> all_reports() {
    std::lock_guard lock(mutex);
    return reports;
  }

  std::uint64_t dropped(DropReason reason) const {
    return counters.rows_dropped[static_cast<std::size_t>(reason)];
  }

  PipelineCounters counters;
  MemoryBudget budget{std::uint64_t{1} << 34, std::uint64_t{1} << 26};
  Accounting accounting{counters, budget};
  DestinationTable destinations;
  ErrorReporter errors{std::chrono::seconds(5)};
  std::mutex mutex;
  std::vector<ErrorReport> reports;
  std::uint64_t submitted = 0;
};

Options fast_options(std::string url, std::string key = "test-key") {
  Options options;
  options.api_url = std::move(url);
  options.api_key = std::move(key);
  options.retry_base_delay = 10ms;
  options.retry_max_delay = 200ms;
  options.connect_timeout = 5s;
  options.request_timeout = 10s;
  return options;
}

std::size_t count_inserts(const std::vector<fakeapi::RequestRecord>& log, int status = -1) {
  return static_cast<std::size_t>(std::count_if(log.begin(), log.end(), [&](const auto& r) {
    return r.target.find("/insert") != std::string::npos && (status < 0 || r.status == status);
  }));
}

// Waits, with a generous deadline, for something another thread makes true.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A tiny HTTP/1.1 server whose answers a test scripts: for what the fake API does not
// do (refuse an encoding, never answer). It records the requests it saw.
class ScriptedServer {
 public:
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;
  // nullopt: read the request and never answer.
  using Script = std::function<std::optional<Response>(const Request&)>;

  explicit ScriptedServer(Script script) : state_(std::make_shared<State>()) {
    state_->script = std::move(script);
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ScriptedServer() {
    io_.stop();
    thread_.join();
    state_->hung.clear();  // they hold the state; break the cycle
  }

  std::string base_url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::vector<Request> seen() const {
    std::lock_guard lock(state_->mutex);
    return state_->seen;
  }
  std::vector<std::chrono::steady_clock::time_point> arrivals() const {
    std::lock_guard lock(state_->mutex);
    return state_->arrivals;
  }

 private:
  struct Session;
  struct State {
    Script script;
    mutable std::mutex mutex;
    std::vector<Request> seen;                                    // bodies cleared
    std::vector<std::chrono::steady_clock::time_point> arrivals;  // when each request was read
    std::vector<std::shared_ptr<Session>> hung;                   // sessions that never answer
  };

  struct Session : std::enable_shared_from_this<Session> {
    Session(net::ip::tcp::socket s, std::shared_ptr<State> st) : socket(std::move(s)), state(std::move(st)) {}
    void read() {
      parser.emplace();
      parser->body_limit(64u << 20);
      http::async_read(socket, buffer, *parser,
                       [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                         if (ec) return;
                         Request request = self->parser->release();
                         auto answer = self->state->script(request);
                         {
                           std::lock_guard lock(self->state->mutex);
                           Request copy = request;
                           copy.body().clear();
                           self->state->seen.push_back(std::move(copy));
                           self->state->arrivals.push_back(std::chrono::steady_clock::now());
                         }
                         if (!answer) {
                           std::lock_guard lock(self->state->mutex);
                           self->state->hung.push_back(self);  // keep the socket open, say nothing
                           return;
                         }
                         self->response = std::move(*answer);
                         self->response.version(11);
                         self->response.keep_alive(true);
                         self->response.prepare_payload();
                         http::async_write(self->socket, self->response,
                                           [self](boost::system::error_code ec, std::size_t) {
                                             if (!ec) self->read();
                                           });
                       });
    }
    net::ip::tcp::socket socket;
    std::shared_ptr<State> state;
    boost::beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    Response response;
  };

  void accept() {
    acceptor_.async_accept([state = state_, this](boost::system::error_code ec, net::ip::tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(std::move(socket), state)->read();
      accept();
    });
  }

  std::shared_ptr<State> state_;
  net::io_context io_;
  net::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

ScriptedServer::Response json_answer(int status, std::string body) {
  ScriptedServer::Response response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

TEST(SenderTest, DeliversBatchesToTheApi) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-deliver")).index;
  Sender sender(fast_options(api.base_url()), p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 4; ++b) p.submit(sender, p.batch(dest, "b" + std::to_string(b) + "-", 100));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 400u);
  EXPECT_EQ(p.counters.batches_sent.load(), 4u);
  EXPECT_GT(p.counters.bytes_raw.load(), p.counters.bytes_compressed.load());
  const auto stats = api.stats();
  EXPECT_EQ(stats.unique_rows, 400u);
  EXPECT_EQ(stats.encodings.at("zstd"), 4u);
  EXPECT_TRUE(api.row("project_logs", "p-deliver", "b3-99").has_value());
  EXPECT_EQ(p.budget.bytes_in_use(), 0u);
  EXPECT_EQ(sender.in_flight(), 0u);
  sender.shutdown(std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(p.dropped(DropReason::shutdown), 0u);
}

TEST(SenderTest, LearnsThePayloadLimitFromVersion) {
  FakeApi api(ServerConfig{.max_payload_bytes = 300'000});
  Pipeline p;
  Sender sender(fast_options(api.base_url()), p.destinations, p.accounting, p.errors);
  EXPECT_EQ(sender.payload_limit(), kDefaultPayloadLimit);
  sender.start();
  EXPECT_TRUE(eventually([&] { return sender.payload_limit() == 300'000; }));

  Options fixed = fast_options(api.base_url());
  fixed.max_payload_bytes = 50'000;
  Sender pinned(fixed, p.destinations, p.accounting, p.errors);
  pinned.start();
  EXPECT_EQ(pinned.payload_limit(), 50'000u);
}

TEST(SenderTest, NoRequestStartsInsideTheRetryAfterPause) {
  ServerConfig config;
  config.faults.fail_429 = 0.5;
  config.faults.retry_after_s = 1;
  config.faults.seed = 11;
  FakeApi api(config);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-429")).index;
  Options options = fast_options(api.base_url());
  options.initial_in_flight = 1;
  options.max_in_flight = 1;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 6; ++b) p.submit(sender, p.batch(dest, "r" + std::to_string(b) + "-", 20));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.counters.rows_delivered.load(), 120u);
  EXPECT_EQ(api.stats().unique_rows, 120u);

  auto log = api.request_log();
  std::erase_if(log, [](const auto& r) { return r.target.find("/insert") == std::string::npos; });
  std::sort(log.begin(), log.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  std::size_t pauses = 0;
  for (std::size_t i = 0; i + 1 < log.size(); ++i) {
    if (log[i].status != 429) continue;
    ++pauses;
    const auto gap = log[i + 1].at - log[i].at;
    EXPECT_GE(gap, 1s - 50ms) << "request " << i + 1 << " started inside the pause after a 429";
  }
  EXPECT_GT(pauses, 0u) << "the fault seed produced no 429; the test checked nothing";
  EXPECT_GE(p.counters.retries.load(), pauses);
}

// The batcher's signal to grow batches: on from a 429 for its pause and as long again,
// then off, with the clock the pause itself is timed by.
TEST(SenderTest, IsRateLimitedFromA429UntilAPauseWindowAfterItsPause) {
  ServerConfig config;
  config.faults.fail_429 = 1.0;
  config.faults.retry_after_s = 1;
  FakeApi api(config);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-limited")).index;
  Options options = fast_options(api.base_url());
  options.max_payload_bytes = 1 << 20;  // no /version probe to fault
  Sender sender(options, p.destinations, p.accounting, p.errors);
  EXPECT_FALSE(sender.rate_limited());
  sender.start();
  const auto before = std::chrono::steady_clock::now();
  p.submit(sender, p.batch(dest, "l-", 10));
  ASSERT_TRUE(eventually([&] { return api.stats().requests.count(429) != 0; }));
  api.set_faults({});
  ASSERT_TRUE(eventually([&] { return sender.rate_limited(); }));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(api.stats().unique_rows, 10u);
  ASSERT_TRUE(eventually([&] { return !sender.rate_limited(); }));
  // The 429 paused the host for 1 s and counts as recent for 2 s from when it was read,
  // which was after `before`: ending with the pause would end it before 2 s.
  EXPECT_GE(std::chrono::steady_clock::now() - before, 2s);
}

TEST(SenderTest, RetriesServerErrorsAndResetsUntilDelivered) {
  ServerConfig config;
  config.faults.fail_5xx = 0.3;
  config.faults.reset = 0.2;
  config.faults.seed = 5;
  FakeApi api(config);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::experiment("exp-1")).index;
  Options options = fast_options(api.base_url());
  options.max_in_flight = 4;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 20; ++b) p.submit(sender, p.batch(dest, "e" + std::to_string(b) + "-", 50));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 1000u);
  const auto stats = api.stats();
  EXPECT_EQ(stats.unique_rows, 1000u);
  EXPECT_GT(stats.requests.count(503) ? stats.requests.at(503) : 0, 0u);
  EXPECT_GT(stats.resets, 0u);
  EXPECT_GT(p.counters.retries.load(), 0u);
  Stats snapshot;
  p.counters.copy_to(snapshot);
  EXPECT_GT(snapshot.requests_by_status[503], 0u);
}

TEST(SenderTest, GivesUpAfterMaxRetryAttempts) {
  ServerConfig config;
  config.faults.fail_5xx = 1.0;
  FakeApi api(config);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::dataset("ds-1")).index;
  Options options = fast_options(api.base_url());
  options.max_retry_attempts = 2;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "x-", 10));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.dropped(DropReason::retries_exhausted), 10u);
  EXPECT_EQ(count_inserts(api.request_log(), 503), 3u);  // the first attempt and two retries
  EXPECT_EQ(p.counters.retries.load(), 2u);
}

TEST(SenderTest, UnauthorizedIsRejectedReportedOnceAndNeverLeaksTheKey) {
  FakeApi api(ServerConfig{.api_key = "the-servers-key"});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-401")).index;
  const std::string secret = "sk-very-secret-0123456789";
  Sender sender(fast_options(api.base_url(), secret), p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 3; ++b) p.submit(sender, p.batch(dest, "u" + std::to_string(b) + "-", 10));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_rejected.load(), 30u);
  EXPECT_EQ(p.counters.rows_delivered.load(), 0u);
  EXPECT_EQ(count_inserts(api.request_log()), 3u);  // never retried
  EXPECT_EQ(p.counters.retries.load(), 0u);
  const auto reports = p.reports_with_status(401);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].message.find("401"), std::string::npos);
  EXPECT_NE(reports[0].message.find("/v1/project_logs/p-401/insert"), std::string::npos);
  for (const auto& report : p.all_reports()) EXPECT_EQ(report.message.find(secret), std::string::npos);
}

TEST(SenderTest, SplitsABatchThatGets413AndRejectsASingleOversizedEvent) {
  FakeApi api(ServerConfig{.max_payload_bytes = 4096});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-413")).index;
  Options options = fast_options(api.base_url());
  options.max_payload_bytes = 1 << 20;  // larger than the server's: only a 413 can tell
  options.compression = Compression::none;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "s-", 40, 200));    // ~9.5 KB: split twice
  p.submit(sender, p.batch(dest, "big-", 1, 6000));  // one event over the limit
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 40u);
  EXPECT_EQ(p.counters.rows_rejected.load(), 1u);
  EXPECT_EQ(api.stats().unique_rows, 40u);
  EXPECT_GE(count_inserts(api.request_log(), 413), 2u);
  EXPECT_TRUE(api.row("project_logs", "p-413", "s-39").has_value());
  EXPECT_EQ(p.reports_with_status(413).size(), 1u);
}

// A row the fake API refuses with "400 body is not valid JSON: too deep" (Boost.JSON's
// default depth limit is 32), whichever batch carries it.
std::string too_deep_row(const std::string& id) {
  return R"({"id":")" + id + R"(","input":)" + std::string(40, '[') + std::string(40, ']') + "}";
}

// Replaces some events of a batch by rows the API refuses, and encodes it again.
void poison(Batch& batch, const std::vector<std::size_t>& positions) {
  for (const std::size_t at : positions) batch.events[at].json = too_deep_row("bad-" + std::to_string(at));
  batch.body.clear();
  encode(batch, Compression::zstd, 1);
}

// log2(n) rounded up: how many halvings isolate one row among n.
std::uint64_t halvings(std::uint64_t n) {
  std::uint64_t levels = 0;
  while ((std::uint64_t{1} << levels) < n) ++levels;
  return levels;
}

TEST(SenderTest, OneRefusedRowAmongTenThousandIsIsolatedAndTheRestDelivered) {
  FakeApi api(ServerConfig{.api_key = "test-key"});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-poison")).index;
  Sender sender(fast_options(api.base_url()), p.destinations, p.accounting, p.errors);
  sender.start();
  constexpr int kRows = 10'000;
  Batch batch = p.batch(dest, "r-", kRows, 20);
  poison(batch, {6543});
  p.submit(sender, std::move(batch));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), std::uint64_t{kRows - 1});
  EXPECT_EQ(p.counters.rows_rejected.load(), 1u);
  EXPECT_EQ(api.stats().unique_rows, std::uint64_t{kRows - 1});
  EXPECT_TRUE(api.row("project_logs", "p-poison", "r-6542").has_value());
  EXPECT_TRUE(api.row("project_logs", "p-poison", "r-6544").has_value());
  EXPECT_FALSE(api.row("project_logs", "p-poison", "bad-6543").has_value());
  // Each halving sends two requests; at most one halving per level holds the bad row.
  const std::uint64_t extra = p.counters.isolation_requests.load();
  EXPECT_GE(extra, 2u);
  EXPECT_LE(extra, 2 * halvings(kRows));
  EXPECT_EQ(count_inserts(api.request_log()), 1 + extra);
  // The final refusal names the status and the refused row.
  const auto refused = p.reports_with_status(400);
  ASSERT_FALSE(refused.empty());
  EXPECT_NE(refused.back().message.find("1 rows rejected (first refused row id \"bad-6543\")"),
            std::string::npos)
      << refused.back().message;
}

TEST(SenderTest, SeveralRefusedRowsCostAFewRequestsEachAndA422IsIsolatedToo) {
  // 422 from a scripted host for any body holding a marked row; 200 otherwise.
  std::atomic<int> inserts{0};
  ScriptedServer server(
      [&](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
        if (request.target() == "/version") return json_answer(200, R"({"logs3_payload_max_bytes":6000000})");
        ++inserts;
        if (request.body().find("\"refuse-me\"") != std::string::npos) {
          return json_answer(422, R"({"message":"events[0] cannot be merged"})");
        }
        return json_answer(200, R"({"row_ids":[]})");
      });
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-422")).index;
  Options options = fast_options(server.base_url());
  options.compression = Compression::none;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  constexpr int kRows = 1'000;
  Batch batch = p.batch(dest, "r-", kRows, 20);
  for (const std::size_t at : {std::size_t{0}, std::size_t{500}, std::size_t{999}}) {
    batch.events[at].json = R"({"id":"x-)" + std::to_string(at) + R"(","tag":"refuse-me"})";
  }
  batch.body.clear();
  encode(batch, Compression::none, 1);
  p.submit(sender, std::move(batch));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), std::uint64_t{kRows - 3});
  EXPECT_EQ(p.counters.rows_rejected.load(), 3u);
  const std::uint64_t extra = p.counters.isolation_requests.load();
  EXPECT_LE(extra, 3 * 2 * halvings(kRows));
  EXPECT_EQ(static_cast<std::uint64_t>(inserts.load()), 1 + extra);
  EXPECT_EQ(p.reports_with_status(422).size(), 1u) << "one report per status, rate-limited";
}

TEST(SenderTest, AnApiThatRefusesEveryRowCostsABoundedNumberOfRequests) {
  // A 400 about the request rather than its rows: halving would find every row "bad" at
  // the cost of two requests per row without the per-batch budget.
  std::atomic<int> inserts{0};
  ScriptedServer server([&](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
    if (request.target() == "/version") return json_answer(200, R"({"logs3_payload_max_bytes":6000000})");
    ++inserts;
    return json_answer(400, R"({"message":"organization is over its row quota"})");
  });
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-400")).index;
  Sender sender(fast_options(server.base_url()), p.destinations, p.accounting, p.errors);
  sender.start();
  constexpr int kRows = 10'000;
  p.submit(sender, p.batch(dest, "r-", kRows, 20));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 0u);
  EXPECT_EQ(p.counters.rows_rejected.load(), std::uint64_t{kRows});
  // Eight refused rows' worth of halvings, then what is still refused is rejected whole.
  const std::uint64_t budget = 8 * 2 * halvings(kRows);
  EXPECT_LE(p.counters.isolation_requests.load(), budget);
  EXPECT_GT(p.counters.isolation_requests.load(), budget / 2);
  EXPECT_EQ(static_cast<std::uint64_t>(inserts.load()), 1 + p.counters.isolation_requests.load());
  const auto reports = p.reports_with_status(400);
  ASSERT_FALSE(reports.empty());
}

TEST(SenderTest, SplitsToThePayloadLimitBeforeSending) {
  FakeApi api(ServerConfig{});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-split")).index;
  Options options = fast_options(api.base_url());
  options.max_payload_bytes = 4096;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "s-", 40, 200));
  p.submit(sender, p.batch(dest, "big-", 1, 6000));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 40u);
  EXPECT_EQ(p.dropped(DropReason::too_large), 1u);
  const auto log = api.request_log();
  EXPECT_GE(count_inserts(log, 200), 3u);
  EXPECT_EQ(count_inserts(log, 413), 0u);
  EXPECT_EQ(api.stats().unique_rows, 40u);
}

TEST(SenderTest, FallsBackToTheNextEncodingOn415AndSendsTheExpectedHeaders) {
  ScriptedServer server(
      [](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
        if (request.target() == "/prefix/version") return json_answer(404, "{}");
        if (request[http::field::content_encoding] == "zstd")
          return json_answer(415, R"({"message":"no zstd here"})");
        return json_answer(200, R"({"row_ids":[]})");
      });
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-415")).index;
  Options options = fast_options(server.base_url() + "/prefix");
  options.api_key = "k-415";
  options.impersonate_user = "someone@example.com";
  Sender sender(options, p.destinations, p.accounting, p.errors);
  EXPECT_EQ(sender.encoding(), Compression::zstd);
  sender.start();
  p.submit(sender, p.batch(dest, "f-", 10));
  ASSERT_TRUE(p.settled());
  p.submit(sender, p.batch(dest, "g-", 10));  // encoded as zstd by its producer; re-encoded
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 20u);
  EXPECT_EQ(sender.encoding(), Compression::gzip);
  std::vector<std::string> encodings;
  for (const auto& request : server.seen()) {
    if (request.target().find("/insert") == std::string_view::npos) continue;
    encodings.emplace_back(request[http::field::content_encoding]);
    EXPECT_EQ(request.target(), "/prefix/v1/project_logs/p-415/insert");
    EXPECT_EQ(request[http::field::authorization], "Bearer k-415");
    EXPECT_EQ(request[http::field::user_agent], "spanline/0.1");
    EXPECT_EQ(request[http::field::content_type], "application/json");
    EXPECT_EQ(request["x-bt-impersonate-user"], "someone@example.com");
    EXPECT_EQ(request[http::field::host], server.base_url().substr(7));
  }
  EXPECT_EQ(encodings, (std::vector<std::string>{"zstd", "gzip", "gzip"}));
  EXPECT_EQ(p.counters.retries.load(), 1u);
}

// A spool record goes through the same outcome handler as a live batch: a 415 to the
// encoding it was written with switches the host to the next one, and the records
// (combined into one request) are re-encoded, sent again and each acknowledged.
TEST(SenderTest, AReplayedRecordRefusedWith415IsReencodedAndDelivered) {
  ScriptedServer server(
      [](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
        if (request.target() == "/version") return json_answer(404, "{}");
        if (request[http::field::content_encoding] == "zstd")
          return json_answer(415, R"({"message":"no zstd here"})");
        return json_answer(200, R"({"row_ids":[]})");
      });
  spool_test::TempDir dir;
  SpoolError error;
  auto spool = Spool::open(SpoolOptions{.directory = dir.path(), .fsync_interval = 10ms}, error);
  ASSERT_TRUE(spool) << error.message;
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-replay-415")).index;
  const std::string key = p.destinations.get(dest).key();
  for (int r = 0; r < 3; ++r) {
    Batch record;
    for (int i = 0; i < 10; ++i)
      record.events.push_back(
          BatchEvent{.json = R"({"id":"r-)" + std::to_string(r) + "-" + std::to_string(i) + R"("})"});
    encode(record, Compression::zstd, 1);
    ASSERT_TRUE(spool
                    ->append(SpoolEntry{.destination_key = key,
                                        .encoding = Compression::zstd,
                                        .source_rows = 10,
                                        .raw_bytes = static_cast<std::uint32_t>(record.raw_body_bytes),
                                        .payload = record.body})
                    .ok());
  }

  {
    Options options = fast_options(server.base_url());
    options.linger = 1s;  // every record is read before the first request goes
    Sender sender(options, p.destinations, p.accounting, p.errors, spool.get());
    sender.start();
    ASSERT_TRUE(eventually([&] { return p.counters.records_replay_delivered.load() == 3; }));
    EXPECT_EQ(sender.encoding(), Compression::gzip);
    sender.shutdown(std::chrono::steady_clock::now() + 5s);
  }
  EXPECT_EQ(p.counters.rows_replayed_delivered.load(), 30u);
  EXPECT_EQ(p.counters.rows_rejected.load(), 0u);
  EXPECT_EQ(p.counters.retries.load(), 1u);
  EXPECT_EQ(spool->metrics().records_acked, 3u);
  std::vector<std::string> encodings;
  for (const auto& request : server.seen()) {
    if (request.target().find("/insert") != std::string_view::npos)
      encodings.emplace_back(request[http::field::content_encoding]);
  }
  EXPECT_EQ(encodings, (std::vector<std::string>{"zstd", "gzip"}));
  EXPECT_EQ(p.reports_with_status(415).size(), 1u);  // the switch is reported once
}

// Replayed records get no share of a single request slot while a live batch waits in
// line, and a live batch may wait in line for an earlier one that shares its row ids
// and is backing off. When the outage clock then spills both batches, nothing is on the
// wire and no timer is armed: unless spilling starts what may go now, the records (and
// the two batches, now in the spool too) are never sent, even once the host is back.
TEST(SenderTest, SpillingAtTheOutageClockStartsTheReplayItHeldBack) {
  std::atomic<bool> up{false};
  ScriptedServer server([&](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
    if (request.target() == "/version") return json_answer(200, "{}");
    if (!up.load()) return json_answer(503, R"({"message":"down"})");
    return json_answer(200, R"({"row_ids":[]})");
  });
  spool_test::TempDir dir;
  SpoolError error;
  auto spool = Spool::open(SpoolOptions{.directory = dir.path(), .fsync_interval = 10ms}, error);
  ASSERT_TRUE(spool) << error.message;
  Pipeline p;
  const auto live = p.destinations.add(Destination::project("p-live")).index;
  const auto replayed = p.destinations.add(Destination::project("p-replayed")).index;
  // Two batches of the same span ids: the second waits in line for the first.
  const auto span_batch = [&] {
    Batch batch = p.batch(live, "span-", 5);
    for (std::size_t i = 0; i < batch.events.size(); ++i)
      batch.events[i].id_key = row_key("span-" + std::to_string(i));
    return batch;
  };

  Options options = fast_options(server.base_url());
  options.initial_in_flight = 1;
  options.max_in_flight = 1;  // replay's share is none while a live batch waits
  // The first batch backs off far longer than the test runs (a uniform draw up to an
  // hour) while the outage clock runs out.
  options.retry_base_delay = std::chrono::hours(1);
  options.retry_max_delay = std::chrono::hours(1);
  options.spool_outage_after = 2s;
  Sender sender(options, p.destinations, p.accounting, p.errors, spool.get());
  sender.start();

  p.submit(sender, span_batch());
  ASSERT_TRUE(eventually([&] { return p.counters.retries.load() == 1; }));  // failed once, backing off
  up = true;  // nothing reaches the host again until the outage spill, unless something is wrong
  p.submit(sender, span_batch());
  // Two records: once it has handed them over the replay thread has nothing more to
  // hand over, and cannot wake delivery either.
  const std::string key = p.destinations.get(replayed).key();
  for (int r = 0; r < 2; ++r) {
    Batch record;
    for (int i = 0; i < 3; ++i)
      record.events.push_back(
          BatchEvent{.json = R"({"id":"rec-)" + std::to_string(r) + "-" + std::to_string(i) + R"("})"});
    encode(record, Compression::zstd, 1);
    ASSERT_TRUE(spool
                    ->append(SpoolEntry{.destination_key = key,
                                        .encoding = Compression::zstd,
                                        .source_rows = 3,
                                        .raw_bytes = static_cast<std::uint32_t>(record.raw_body_bytes),
                                        .payload = record.body,
                                        .rows = RecordRows{.destination = replayed, .keys = {}}})
                    .ok());
  }

  // The records, and both batches (by way of the spool, spilled at the outage clock).
  EXPECT_TRUE(eventually([&] { return p.counters.rows_delivered.load() == 6 + 10; }))
      << p.counters.rows_delivered.load() << " rows delivered, " << p.counters.rows_replayed_delivered.load()
      << " of them replayed, " << p.counters.rows_spilled.load() << " spilled";
  EXPECT_EQ(p.counters.rows_replayed_delivered.load(), 6 + p.counters.rows_spilled.load());
  EXPECT_TRUE(p.settled());
  sender.shutdown(std::chrono::steady_clock::now() + 5s);
  EXPECT_EQ(p.dropped(DropReason::shutdown), 0u);
}

std::string http_date(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

TEST(SenderTest, HonoursAnHttpDateRetryAfterAndBacksOffWithoutOne) {
  std::atomic<int> inserts{0};
  ScriptedServer server(
      [&](const ScriptedServer::Request& request) -> std::optional<ScriptedServer::Response> {
        if (request.target().find("/insert") == std::string_view::npos) return json_answer(404, "{}");
        const int n = inserts++;
        if (n == 0) {
          auto answer = json_answer(429, R"({"message":"slow down"})");
          answer.set(http::field::retry_after, http_date(std::chrono::system_clock::now() + 3s));
          return answer;
        }
        if (n == 1) return json_answer(429, R"({"message":"slow down"})");  // no Retry-After: backoff
        return json_answer(200, R"({"row_ids":[]})");
      });
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-date")).index;
  Sender sender(fast_options(server.base_url()), p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "w-", 5));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.counters.rows_delivered.load(), 5u);
  EXPECT_EQ(p.counters.retries.load(), 2u);

  std::vector<std::chrono::steady_clock::time_point> times;
  const auto seen = server.seen();
  const auto arrivals = server.arrivals();
  for (std::size_t i = 0; i < seen.size(); ++i)
    if (seen[i].target().find("/insert") != std::string_view::npos) times.push_back(arrivals[i]);
  ASSERT_EQ(times.size(), 3u);
  // The date has whole seconds, so "now + 3 s" asks for a wait of more than 2 s.
  EXPECT_GE(times[1] - times[0], 1900ms);
  Stats stats;
  p.counters.copy_to(stats);
  EXPECT_EQ(stats.requests_by_status[429], 2u);
}

TEST(SenderTest, ResolvesAProjectNameOnceThenSends) {
  FakeApi api(ServerConfig{.api_key = "k"});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project_named("named project")).index;
  Options options = fast_options(api.base_url(), "k");
  options.org_name = "acme";
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 3; ++b) p.submit(sender, p.batch(dest, "n" + std::to_string(b) + "-", 10));
  ASSERT_TRUE(p.settled());

  EXPECT_EQ(p.counters.rows_delivered.load(), 30u);
  const std::string id = api.project_id("named project");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(p.destinations.insert_path(dest), "/v1/project_logs/" + id + "/insert");
  EXPECT_TRUE(api.row("project_logs", id, "n2-9").has_value());
  const auto log = api.request_log();
  EXPECT_EQ(std::count_if(log.begin(), log.end(),
                          [](const auto& r) { return r.method == "POST" && r.target == "/v1/project"; }),
            1);
}

TEST(SenderTest, ProjectResolutionRefusedRejectsTheParkedRows) {
  FakeApi api(ServerConfig{.api_key = "right"});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project_named("nope")).index;
  Sender sender(fast_options(api.base_url(), "wrong"), p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "z-", 5));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.counters.rows_rejected.load(), 5u);
  EXPECT_EQ(p.reports_with_status(401).size(), 1u);
}

TEST(SenderTest, ShutdownWithTheServerDownReturnsByTheDeadlineAndDropsAsShutdown) {
  std::uint16_t port = 0;
  {
    net::io_context io;
    net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }  // closed: connecting is refused
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-down")).index;
  Options options = fast_options("http://127.0.0.1:" + std::to_string(port));
  options.retry_base_delay = 50ms;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 5; ++b) p.submit(sender, p.batch(dest, "d" + std::to_string(b) + "-", 10));
  EXPECT_TRUE(eventually([&] { return p.counters.retries.load() > 0; }));

  const auto deadline = std::chrono::steady_clock::now() + 300ms;
  sender.shutdown(deadline);
  EXPECT_LT(std::chrono::steady_clock::now(), deadline + 5s);
  EXPECT_EQ(p.dropped(DropReason::shutdown), 50u);
  EXPECT_EQ(p.counters.rows_settled.load(), 50u);
  EXPECT_EQ(p.budget.bytes_in_use(), 0u);

  p.counters.rows_in.fetch_add(10);
  sender.submit(p.batch(dest, "late-", 10));  // after shutdown: dropped at once
  EXPECT_EQ(p.dropped(DropReason::shutdown), 60u);
  sender.shutdown(std::chrono::steady_clock::now());  // idempotent
}

TEST(SenderTest, ShutdownWithAHangingServerReturnsByTheDeadline) {
  ScriptedServer server(
      [](const ScriptedServer::Request&) -> std::optional<ScriptedServer::Response> { return std::nullopt; });
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-hang")).index;
  Options options = fast_options(server.base_url());
  options.request_timeout = 60s;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 4; ++b) p.submit(sender, p.batch(dest, "h" + std::to_string(b) + "-", 10));
  EXPECT_TRUE(eventually([&] { return sender.in_flight() > 0; }));

  const auto deadline = std::chrono::steady_clock::now() + 300ms;
  sender.shutdown(deadline);
  EXPECT_LT(std::chrono::steady_clock::now(), deadline + 5s);
  EXPECT_EQ(p.dropped(DropReason::shutdown), 40u);
  EXPECT_EQ(sender.in_flight(), 0u);
}

TEST(SenderTest, ShutdownDeliversWhatItCanBeforeTheDeadline) {
  FakeApi api(ServerConfig{});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-drain")).index;
  Sender sender(fast_options(api.base_url()), p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 10; ++b) p.submit(sender, p.batch(dest, "q" + std::to_string(b) + "-", 20));
  sender.shutdown(std::chrono::steady_clock::now() + kWait);
  EXPECT_EQ(p.counters.rows_delivered.load(), 200u);
  EXPECT_EQ(api.stats().unique_rows, 200u);
}

// --- TLS ------------------------------------------------------------------------------

// A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI.
class TestPki {
 public:
  TestPki() {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("spanline-tls-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string script =
        "cd '" + d +
        "' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj '/CN=spanline test CA' -keyout ca.key -out ca.pem && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=localhost' "
        "-keyout server.key -out server.csr && "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile ext.cnf -out server.pem";
    ok_ = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string file(const char* name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
  bool ok_ = false;
};

TEST(SenderTest, TlsWithTheCaFileDelivers) {
  TestPki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl CLI could not make test certificates";
  FakeApi api(ServerConfig{.tls_cert_file = pki.file("server.pem"), .tls_key_file = pki.file("server.key")});
  ASSERT_EQ(api.base_url().rfind("https://", 0), 0u);
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-tls")).index;
  Options options = fast_options(api.base_url());
  options.ca_file = pki.file("ca.pem");
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  for (int b = 0; b < 3; ++b) p.submit(sender, p.batch(dest, "t" + std::to_string(b) + "-", 20));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.counters.rows_delivered.load(), 60u);
  EXPECT_EQ(api.stats().unique_rows, 60u);
}

TEST(SenderTest, TlsWithoutTheCaFailsVerification) {
  TestPki pki;
  if (!pki.ok()) GTEST_SKIP() << "the openssl CLI could not make test certificates";
  FakeApi api(ServerConfig{.tls_cert_file = pki.file("server.pem"), .tls_key_file = pki.file("server.key")});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-tls-bad")).index;
  Options options = fast_options(api.base_url());
  options.max_retry_attempts = 1;
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();
  p.submit(sender, p.batch(dest, "v-", 5));
  ASSERT_TRUE(p.settled());
  EXPECT_EQ(p.dropped(DropReason::retries_exhausted), 5u);
  EXPECT_EQ(api.stats().rows_received, 0u);
  bool mentions_verify = false;
  for (const auto& report : p.all_reports()) {
    if (report.message.find("certificate verify failed") != std::string::npos) mentions_verify = true;
  }
  EXPECT_TRUE(mentions_verify);
}

TEST(SenderTest, RejectsABadCaFileAndABadUrlAtConstruction) {
  Pipeline p;
  Options options = fast_options("https://127.0.0.1:1");
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW({ Sender sender(options, p.destinations, p.accounting, p.errors); }, std::invalid_argument);
  EXPECT_THROW({ Sender sender(fast_options("ftp://x"), p.destinations, p.accounting, p.errors); },
               std::invalid_argument);
}

}  // namespace
}  // namespace spanline::detail

namespace spanline::detail {
namespace {

// Throughput to a loopback fake API: ~500-byte rows in ~2 MiB zstd batches. Measured and
// printed, never asserted (performance belongs to bench/); it checks that nothing is lost.
TEST(SenderSoakTest, SustainsLoopbackThroughput) {
  FakeApi api(ServerConfig{.store = fakeapi::StoreMode::ids});
  Pipeline p;
  const auto dest = p.destinations.add(Destination::project("p-soak")).index;
  Options options = fast_options(api.base_url());
  Sender sender(options, p.destinations, p.accounting, p.errors);
  sender.start();

  constexpr int kBatches = 400;
  constexpr int kRowsPerBatch = 4000;  // ~2 MiB raw each
  std::vector<Batch> templates;
  for (int t = 0; t < 8; ++t)
    templates.push_back(p.batch(dest, "t" + std::to_string(t) + "-", kRowsPerBatch, 440));
  const auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < kBatches; ++b) {
    Batch copy = templates[static_cast<std::size_t>(b) % templates.size()];
    for (const auto& event : copy.events) ASSERT_TRUE(p.budget.try_acquire(event.budget_bytes));
    p.submit(sender, std::move(copy));
  }
  ASSERT_TRUE(p.settled());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rows = double(kBatches) * kRowsPerBatch;
  std::printf("sender throughput: %.0f rows/s, %.1f MB/s raw (%d batches in %.2f s)\n", rows / seconds,
              double(p.counters.bytes_raw.load()) / seconds / 1e6, kBatches, seconds);
  EXPECT_EQ(p.counters.rows_delivered.load(), std::uint64_t(rows));
  for (auto& t : templates) p.accounting.dropped(t, DropReason::shutdown);  // give their budget back
}

}  // namespace
}  // namespace spanline::detail
