#include "fake_api.hpp"

#include "codec/codec.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using spanline::fakeapi::FakeApi;
using spanline::fakeapi::FaultConfig;
using spanline::fakeapi::ServerConfig;
using spanline::fakeapi::StoreMode;

constexpr auto kTimeout = std::chrono::seconds(20);

struct Reply {
  boost::system::error_code ec;  // transport error (the request got no answer)
  http::response<http::string_body> res;

  int status() const { return static_cast<int>(res.result_int()); }
  json::value json() const {
    boost::system::error_code parse_ec;
    auto value = json::parse(res.body(), parse_ec);
    EXPECT_FALSE(parse_ec) << "not JSON: " << res.body();
    return value;
  }
};

// A small keep-alive HTTP/1.1 client on loopback. Every operation has a deadline,
// so a broken server fails the test instead of hanging it.
class Client {
 public:
  explicit Client(std::uint16_t port) : port_(port) {}

  Reply send(http::verb verb, const std::string& target, std::string body = {},
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    Reply reply;
    if (!connected_) {
      stream_.emplace(ioc_);
      stream_->expires_after(kTimeout);
      stream_->async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                            [&](boost::system::error_code ec) { reply.ec = ec; });
      run();
      if (reply.ec) return reply;
      connected_ = true;
    }
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = std::move(body);
    req.prepare_payload();
    stream_->expires_after(kTimeout);
    http::async_write(*stream_, req, [&](boost::system::error_code ec, std::size_t) { reply.ec = ec; });
    run();
    if (!reply.ec) {
      stream_->expires_after(kTimeout);
      http::async_read(*stream_, buffer_, reply.res,
                       [&](boost::system::error_code ec, std::size_t) { reply.ec = ec; });
      run();
    }
    if (reply.ec || !reply.res.keep_alive()) close();
    return reply;
  }

  Reply get(const std::string& target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    return send(http::verb::get, target, {}, std::move(headers));
  }
  Reply post(const std::string& target, std::string body,
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    return send(http::verb::post, target, std::move(body), std::move(headers));
  }

  void close() {
    stream_.reset();
    buffer_.clear();
    connected_ = false;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  std::uint16_t port_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

std::string insert_path(const std::string& id) { return "/v1/project_logs/" + id + "/insert"; }

ServerConfig config_with(FaultConfig faults) {
  ServerConfig config;
  config.faults = faults;
  return config;
}

// ---- projects -------------------------------------------------------------------

TEST(FakeApiProject, GetOrCreateReturnsTheSameIdAndFindsByName) {
  FakeApi api(ServerConfig{});
  Client client(api.port());

  const Reply first = client.post("/v1/project", R"({"name":"demo","org_name":"acme"})");
  ASSERT_EQ(first.status(), 200) << first.res.body();
  const auto project = first.json().as_object();
  const std::string id(project.at("id").as_string());
  EXPECT_EQ(project.at("name").as_string(), "demo");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4') << "UUIDv4 version nibble";
  EXPECT_TRUE(project.contains("org_id"));
  EXPECT_TRUE(project.contains("created"));

  const Reply second = client.post("/v1/project", R"({"name":"demo"})");
  ASSERT_EQ(second.status(), 200);
  EXPECT_EQ(second.json().at("id").as_string(), id);
  EXPECT_EQ(api.project_id("demo"), id);
  EXPECT_EQ(api.project_id("other"), "");

  const Reply other = client.post("/v1/project", R"({"name":"other"})");
  EXPECT_NE(other.json().at("id").as_string(), id);

  const Reply found = client.get("/v1/project?project_name=demo");
  ASSERT_EQ(found.status(), 200);
  const json::value found_body = found.json();
  const auto& objects = found_body.at("objects").as_array();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].at("id").as_string(), id);

  const Reply missing = client.get("/v1/project?project_name=nope");
  EXPECT_TRUE(missing.json().at("objects").as_array().empty());

  const Reply by_id = client.get("/v1/project/" + id);
  ASSERT_EQ(by_id.status(), 200);
  EXPECT_EQ(by_id.json().at("name").as_string(), "demo");

  EXPECT_EQ(client.post("/v1/project", R"({"nome":"x"})").status(), 400);
}

// ---- insert ------------------------------------------------------------------------

TEST(FakeApiInsert, ReturnsRowIdsInOrderAndAssignsMissingIds) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  const Reply reply = client.post(insert_path("p1"), R"({"events":[{"id":"b"},{"input":1},{"id":"a"}]})");
  ASSERT_EQ(reply.status(), 200) << reply.res.body();
  const json::value reply_body = reply.json();
  const auto& ids = reply_body.at("row_ids").as_array();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].as_string(), "b");
  EXPECT_EQ(ids[2].as_string(), "a");
  const std::string assigned(ids[1].as_string());
  EXPECT_EQ(assigned.size(), 36u);
  const auto row = api.row("project_logs", "p1", assigned);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->at("input").as_int64(), 1);
  EXPECT_EQ(row->at("id").as_string(), assigned);
  EXPECT_EQ(api.row_count("project_logs", "p1"), 3u);

  for (const std::string kind : {"experiment", "dataset"}) {
    const Reply other = client.post("/v1/" + kind + "/o1/insert", R"({"events":[{"id":"x"}]})");
    ASSERT_EQ(other.status(), 200);
    EXPECT_EQ(api.row_count(kind, "o1"), 1u);
  }
  EXPECT_EQ(api.row_count("project_logs", "o1"), 0u);

  const auto stats = api.stats();
  EXPECT_EQ(stats.inserts, 3u);
  EXPECT_EQ(stats.rows_received, 5u);
  EXPECT_EQ(stats.unique_rows, 5u);
}

TEST(FakeApiInsert, AppliesMergeAndDeleteSemantics) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  auto insert = [&](const std::string& events) {
    const Reply reply = client.post(insert_path("p"), R"({"events":)" + events + "}");
    ASSERT_EQ(reply.status(), 200) << reply.res.body();
  };

  insert(R"([{"id":"r","span_id":"s1","input":{"a":1},"tags":["x"],"_is_merge":false}])");
  insert(R"([{"id":"r","span_id":"s2","input":{"b":2},"tags":["y"],"output":"o","_is_merge":true}])");
  auto row = api.row("project_logs", "p", "r");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(json::serialize(row->at("input")), R"({"a":1,"b":2})");
  EXPECT_EQ(row->at("span_id").as_string(), "s1") << "a merge keeps the earlier span_id";
  EXPECT_EQ(json::serialize(row->at("tags")), R"(["x","y"])");
  EXPECT_EQ(row->at("output").as_string(), "o");
  for (const char* control : {"_is_merge", "_merge_paths", "_object_delete", "_array_delete", "_parent_id"}) {
    EXPECT_FALSE(row->contains(control)) << control;
  }

  // _merge_paths replaces the listed path instead of merging into it.
  insert(R"([{"id":"r","input":{"c":3},"_is_merge":true,"_merge_paths":[["input"]]}])");
  row = api.row("project_logs", "p", "r");
  EXPECT_EQ(json::serialize(row->at("input")), R"({"c":3})");
  EXPECT_FALSE(row->contains("_merge_paths"));

  // A replace drops what it does not carry.
  insert(R"([{"id":"r","input":"fresh"}])");
  row = api.row("project_logs", "p", "r");
  EXPECT_EQ(row->at("input").as_string(), "fresh");
  EXPECT_FALSE(row->contains("output"));

  // Delete, then a merge into nothing creates the row from the merge alone.
  insert(R"([{"id":"r","_object_delete":true}])");
  EXPECT_FALSE(api.row("project_logs", "p", "r").has_value());
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  insert(R"([{"id":"m","output":1,"_is_merge":true,"_parent_id":"old"}])");
  row = api.row("project_logs", "p", "m");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(json::serialize(*row), R"({"id":"m","output":1})");

  // Several rows with one id in one request apply in order.
  insert(R"([{"id":"q","a":1},{"id":"q","b":2,"_is_merge":true},{"id":"q","c":3,"_is_merge":true}])");
  row = api.row("project_logs", "p", "q");
  EXPECT_EQ(json::serialize(*row), R"({"id":"q","a":1,"b":2,"c":3})");

  const auto stats = api.stats();
  EXPECT_EQ(stats.unique_rows, 3u);  // r, m, q
  EXPECT_EQ(stats.rows_received, 9u);
  EXPECT_EQ(stats.duplicate_rows, 6u);
}

TEST(FakeApiInsert, BadBodiesAnswer400WithAMessage) {
  for (const StoreMode mode : {StoreMode::full, StoreMode::ids}) {
    ServerConfig config;
    config.store = mode;
    FakeApi api(config);
    Client client(api.port());
    for (const std::string body :
         {"not json", "[1,2]", R"({"rows":[]})", R"({"events":{}})", R"({"events":[1]})",
          R"({"events":[{"id":5}]})", R"({"events":[{"id":"a"},"x"]})", "", R"({"events":[{"id":"a"})"}) {
      const Reply reply = client.post(insert_path("p"), body);
      ASSERT_FALSE(reply.ec) << reply.ec.message();
      EXPECT_EQ(reply.status(), 400) << "body: " << body;
      EXPECT_TRUE(reply.json().as_object().at("message").is_string());
    }
    EXPECT_EQ(api.stats().rows_received, 0u);
    EXPECT_EQ(api.stats().inserts, 0u);
    EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  }
}

TEST(FakeApiInsert, IdsModeCountsWithoutStoring) {
  ServerConfig config;
  config.store = StoreMode::ids;
  FakeApi api(config);
  Client client(api.port());
  Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a","x":1},{"id":"b"},{}]})");
  ASSERT_EQ(reply.status(), 200);
  const json::value reply_body = reply.json();
  const auto& ids = reply_body.at("row_ids").as_array();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0].as_string(), "a");
  EXPECT_EQ(ids[2].as_string().size(), 36u);
  reply = client.post(insert_path("p"), R"({"events":[{"id":"a","_is_merge":true}]})");
  ASSERT_EQ(reply.status(), 200);

  EXPECT_FALSE(api.row("project_logs", "p", "a").has_value());
  EXPECT_EQ(api.row_count("project_logs", "p"), 3u);
  const auto stats = api.stats();
  EXPECT_EQ(stats.rows_received, 4u);
  EXPECT_EQ(stats.unique_rows, 3u);
  EXPECT_EQ(stats.duplicate_rows, 1u);
  EXPECT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}])").status(), 400);
}

// ---- encodings and limits --------------------------------------------------------

TEST(FakeApiEncoding, DecodesZstdAndGzipBodies) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  const std::string body = R"({"events":[{"id":"z","input":"compressed"}]})";
  for (const auto compression : {spanline::Compression::zstd, spanline::Compression::gzip}) {
    const std::string encoding(spanline::detail::content_encoding(compression));
    const Reply reply = client.post(insert_path(encoding), spanline::detail::compress(compression, body),
                                    {{"Content-Encoding", encoding}});
    ASSERT_EQ(reply.status(), 200) << encoding << ": " << reply.res.body();
    const auto row = api.row("project_logs", encoding, "z");
    ASSERT_TRUE(row.has_value()) << encoding;
    EXPECT_EQ(row->at("input").as_string(), "compressed");
  }
  const auto stats = api.stats();
  EXPECT_EQ(stats.encodings.at("zstd"), 1u);
  EXPECT_EQ(stats.encodings.at("gzip"), 1u);
  EXPECT_EQ(stats.bytes_decoded, 2 * body.size());
  EXPECT_GT(stats.bytes_received, 0u);

  const Reply corrupt = client.post(insert_path("p"), "definitely not zstd", {{"Content-Encoding", "zstd"}});
  EXPECT_EQ(corrupt.status(), 400);
}

TEST(FakeApiEncoding, UnknownEncodingAnswers415) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  const Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a"}]})", {{"Content-Encoding", "br"}});
  EXPECT_EQ(reply.status(), 415);
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  // The connection stays usable.
  EXPECT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 200);
}

TEST(FakeApiLimits, BodiesOverTheLimitAnswer413) {
  ServerConfig config;
  config.max_payload_bytes = 1024;
  FakeApi api(config);
  Client client(api.port());

  const std::string big = R"({"events":[{"id":"a","input":")" + std::string(4000, 'x') + R"("}]})";
  const Reply wire = client.post(insert_path("p"), big);
  ASSERT_FALSE(wire.ec) << wire.ec.message();
  EXPECT_EQ(wire.status(), 413);
  EXPECT_EQ(wire.json().at("message").as_string(), "Request Too Long");

  // Small on the wire, too large once decoded.
  const std::string packed = spanline::detail::compress(spanline::Compression::zstd, big);
  ASSERT_LT(packed.size(), 1024u);
  const Reply decoded = client.post(insert_path("p"), packed, {{"Content-Encoding", "zstd"}});
  ASSERT_FALSE(decoded.ec) << decoded.ec.message();
  EXPECT_EQ(decoded.status(), 413);

  EXPECT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 200);
  EXPECT_EQ(api.stats().requests.at(413), 2u);
  EXPECT_EQ(api.row_count("project_logs", "p"), 1u);
}

// ---- auth ------------------------------------------------------------------------

TEST(FakeApiAuth, RequiresTheBearerKey) {
  ServerConfig config;
  config.api_key = "sk-test-secret";
  FakeApi api(config);
  Client client(api.port());
  const std::string body = R"({"events":[{"id":"a"}]})";

  const Reply none = client.post(insert_path("p"), body);
  EXPECT_EQ(none.status(), 401);
  EXPECT_EQ(none.res.body().find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(client.post(insert_path("p"), body, {{"Authorization", "Bearer sk-test-wrong"}}).status(), 401);
  EXPECT_EQ(client.post(insert_path("p"), body, {{"Authorization", "sk-test-secret"}}).status(), 401);
  EXPECT_EQ(client.get("/version").status(), 401);
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);

  EXPECT_EQ(client.post(insert_path("p"), body, {{"Authorization", "Bearer sk-test-secret"}}).status(), 200);
  EXPECT_EQ(client.get("/version", {{"Authorization", "Bearer sk-test-secret"}}).status(), 200);
  EXPECT_EQ(client.get("/_fake/stats").status(), 200) << "control endpoints need no key";
  EXPECT_EQ(api.stats_json().find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(api.stats().requests.at(401), 4u);
}

// ---- faults -------------------------------------------------------------------------

std::vector<int> status_sequence(FaultConfig faults, int count) {
  FakeApi api(config_with(faults));
  Client client(api.port());
  std::vector<int> statuses;
  for (int i = 0; i < count; ++i) {
    const Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a"}]})");
    statuses.push_back(reply.ec ? 0 : reply.status());
  }
  return statuses;
}

TEST(FakeApiFaults, SameSeedGivesTheSameSequence) {
  FaultConfig faults{.fail_429 = 0.3, .fail_5xx = 0.2, .reset = 0.1, .seed = 42};
  const auto first = status_sequence(faults, 60);
  const auto second = status_sequence(faults, 60);
  EXPECT_EQ(first, second);
  const std::multiset<int> seen(first.begin(), first.end());
  EXPECT_GT(seen.count(200), 0u);
  EXPECT_GT(seen.count(429), 0u);
  EXPECT_GT(seen.count(503), 0u);
  EXPECT_GT(seen.count(0), 0u) << "resets";
  faults.seed = 43;
  EXPECT_NE(status_sequence(faults, 60), first);
}

TEST(FakeApiFaults, TooManyRequestsCarriesRetryAfter) {
  FakeApi api(config_with({.fail_429 = 1.0, .retry_after_s = 7}));
  Client client(api.port());
  const Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a"}]})");
  ASSERT_EQ(reply.status(), 429);
  EXPECT_EQ(reply.res[http::field::retry_after], "7");
  const auto stats = api.stats();
  EXPECT_GT(stats.last_429_at_ms, 0);
  EXPECT_EQ(stats.rows_received, 0u) << "a faulted insert is not received";
  EXPECT_EQ(stats.inserts, 0u);
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  // Control endpoints never fault.
  EXPECT_EQ(client.get("/_fake/stats").status(), 200);
}

TEST(FakeApiFaults, ServerErrorsDoNotStoreRows) {
  FakeApi api(config_with({.fail_5xx = 1.0}));
  Client client(api.port());
  const Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a"}]})");
  ASSERT_EQ(reply.status(), 503);
  EXPECT_TRUE(reply.json().is_object());
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  EXPECT_EQ(api.stats().rows_received, 0u);
}

TEST(FakeApiFaults, ResetClosesTheConnectionWithoutAnswer) {
  FakeApi api(config_with({.reset = 1.0}));
  Client client(api.port());
  const Reply reply = client.post(insert_path("p"), R"({"events":[{"id":"a"}]})");
  EXPECT_TRUE(reply.ec) << "got status " << reply.status();
  const auto stats = api.stats();
  EXPECT_EQ(stats.resets, 1u);
  EXPECT_EQ(stats.requests_total, 1u);
  EXPECT_TRUE(stats.requests.empty());
  EXPECT_EQ(stats.rows_received, 0u);
  const auto log = api.request_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].status, 0);

  api.set_faults({});
  EXPECT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 200);
}

TEST(FakeApiFaults, OutageWindowAnswers503) {
  FakeApi api(config_with({.outage_start_s = 0, .outage_duration_s = 3600}));
  Client client(api.port());
  EXPECT_EQ(client.get("/version").status(), 503);
  EXPECT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 503);
  EXPECT_EQ(client.get("/_fake/stats").status(), 200);

  api.set_faults({.outage_start_s = 3600, .outage_duration_s = 10});  // not yet
  EXPECT_EQ(client.get("/version").status(), 200);

  // At runtime through the control endpoint: the outage starts now.
  const Reply set = client.post("/_fake/faults", R"({"outage_duration_s":3600})");
  ASSERT_EQ(set.status(), 200) << set.res.body();
  EXPECT_EQ(api.faults().outage_duration_s, 3600);
  EXPECT_EQ(client.get("/version").status(), 503);
  ASSERT_EQ(client.post("/_fake/faults", "{}").status(), 200);
  EXPECT_EQ(client.get("/version").status(), 200);
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  EXPECT_EQ(client.post("/_fake/faults", R"({"fail_429":2})").status(), 400);
}

TEST(FakeApiFaults, RuntimeFaultsThroughTheControlEndpoint) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  ASSERT_EQ(client.post("/_fake/faults", R"({"fail_429":1,"retry_after":3})").status(), 200);
  const Reply reply = client.get("/version");
  EXPECT_EQ(reply.status(), 429);
  EXPECT_EQ(reply.res[http::field::retry_after], "3");
  const Reply current = client.get("/_fake/faults");
  EXPECT_EQ(current.json().at("fail_429").as_double(), 1.0);
}

TEST(FakeApiFaults, LatencyDelaysTheAnswerWithoutBlockingOthers) {
  FakeApi api(config_with({.latency_ms = 1500}));  // one io thread
  auto slow = std::async(std::launch::async, [port = api.port()] {
    Client client(port);
    const auto start = std::chrono::steady_clock::now();
    const Reply reply = client.get("/version");
    return std::make_pair(reply.status(), std::chrono::steady_clock::now() - start);
  });
  // While the slow answer waits on its timer, the same io thread serves this one.
  Client fast(api.port());
  EXPECT_EQ(fast.get("/_fake/stats").status(), 200);
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  ASSERT_EQ(slow.wait_for(kTimeout), std::future_status::ready);
  const auto [status, elapsed] = slow.get();
  EXPECT_EQ(status, 200);
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
}

// ---- control, fetch, feedback, version ----------------------------------------------

TEST(FakeApiControl, StatsAndResetAndRequestLog) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  ASSERT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"},{"id":"b"}]})").status(), 200);
  ASSERT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 200);
  ASSERT_EQ(client.get("/nope").status(), 404);
  ASSERT_EQ(client.get("/v1/unknown/thing").status(), 404);

  const Reply stats = client.get("/_fake/stats");
  ASSERT_EQ(stats.status(), 200);
  const auto s = stats.json().as_object();
  EXPECT_EQ(s.at("requests").at("200").as_int64(), 2);
  EXPECT_EQ(s.at("requests").at("404").as_int64(), 1) << "only /v1 and /version are counted";
  EXPECT_EQ(s.at("requests_total").as_int64(), 3);
  EXPECT_EQ(s.at("rows_received").as_int64(), 3);
  EXPECT_EQ(s.at("unique_rows").as_int64(), 2);
  EXPECT_EQ(s.at("duplicate_rows").as_int64(), 1);
  EXPECT_EQ(s.at("inserts").as_int64(), 2);
  EXPECT_EQ(s.at("last_429_at_ms").as_int64(), 0);
  EXPECT_GT(s.at("bytes_received").as_int64(), 0);
  EXPECT_EQ(s.at("bytes_decoded").as_int64(), s.at("bytes_received").as_int64());
  EXPECT_EQ(s.at("encodings").at("identity").as_int64(), 2);

  const auto log = api.request_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].target, insert_path("p"));
  EXPECT_EQ(log[0].status, 200);
  EXPECT_EQ(log[0].events, 2u);
  EXPECT_EQ(log[2].status, 404);

  ASSERT_EQ(client.post("/_fake/reset", "").status(), 200);
  const auto cleared = api.stats();
  EXPECT_EQ(cleared.requests_total, 0u);
  EXPECT_EQ(cleared.rows_received, 0u);
  EXPECT_TRUE(api.request_log().empty());
  EXPECT_EQ(api.row_count("project_logs", "p"), 0u);
  ASSERT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a"}]})").status(), 200);
  EXPECT_EQ(api.stats().unique_rows, 1u) << "reset forgets seen ids";
}

TEST(FakeApiFetch, PagesNewestFirstWithACursor) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  for (int i = 0; i < 25; ++i) {
    const std::string body = R"({"events":[{"id":"r)" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}]}";
    ASSERT_EQ(client.post(insert_path("p"), body).status(), 200);
  }
  std::vector<std::int64_t> seen;
  std::vector<std::size_t> page_sizes;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    json::object request{{"limit", 10}};
    if (!cursor.empty()) request["cursor"] = cursor;
    const Reply reply = client.post("/v1/project_logs/p/fetch", json::serialize(request));
    ASSERT_EQ(reply.status(), 200) << reply.res.body();
    const auto body = reply.json().as_object();
    const auto& events = body.at("events").as_array();
    page_sizes.push_back(events.size());
    for (const auto& event : events) seen.push_back(event.at("n").as_int64());
    if (!body.contains("cursor")) break;
    cursor = std::string(body.at("cursor").as_string());
  }
  EXPECT_EQ(page_sizes, (std::vector<std::size_t>{10, 10, 5, 0}));
  ASSERT_EQ(seen.size(), 25u);
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 24 - static_cast<std::int64_t>(i));

  EXPECT_EQ(client.post("/v1/project_logs/p/fetch", R"({"cursor":"x"})").status(), 400);
  EXPECT_EQ(client.post("/v1/project_logs/p/fetch", R"({"limit":0})").status(), 400);
  const Reply empty_body = client.post("/v1/project_logs/p/fetch", "");
  ASSERT_EQ(empty_body.status(), 200);
  EXPECT_EQ(empty_body.json().at("events").as_array().size(), 25u);
}

TEST(FakeApiFeedback, MergesScoresIntoTheRow) {
  FakeApi api(ServerConfig{});
  Client client(api.port());
  ASSERT_EQ(client.post(insert_path("p"), R"({"events":[{"id":"a","scores":{"x":0}}]})").status(), 200);
  const Reply reply = client.post("/v1/project_logs/p/feedback",
                                  R"({"feedback":[{"id":"a","scores":{"y":1},"comment":"good"}]})");
  ASSERT_EQ(reply.status(), 200) << reply.res.body();
  EXPECT_EQ(reply.json().at("status").as_string(), "success");
  const auto row = api.row("project_logs", "p", "a");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(json::serialize(row->at("scores")), R"({"x":0,"y":1})");
  EXPECT_EQ(api.stats().feedback_items, 1u);
  EXPECT_EQ(client.post("/v1/project_logs/p/feedback", R"({"feedback":[{"scores":{}}]})").status(), 400);
  EXPECT_EQ(client.post("/v1/project_logs/p/feedback", R"({"items":[]})").status(), 400);
}

TEST(FakeApiVersion, ReportsThePayloadLimit) {
  ServerConfig config;
  config.max_payload_bytes = 123456;
  FakeApi api(config);
  Client client(api.port());
  const Reply reply = client.get("/version");
  ASSERT_EQ(reply.status(), 200);
  EXPECT_EQ(reply.json().at("logs3_payload_max_bytes").as_int64(), 123456);
  EXPECT_EQ(reply.res[http::field::content_type], "application/json");
  EXPECT_EQ(client.post("/version", "").status(), 405);
}

// ---- lifecycle ----------------------------------------------------------------------

TEST(FakeApiLifecycle, BaseUrlStopAndBindErrors) {
  auto api = std::make_unique<FakeApi>(ServerConfig{});
  EXPECT_EQ(api->base_url(), "http://127.0.0.1:" + std::to_string(api->port()));

  ServerConfig taken;
  taken.port = api->port();
  EXPECT_THROW(FakeApi{taken}, std::system_error);
  ServerConfig bad;
  bad.faults.fail_429 = 1.5;
  EXPECT_THROW(FakeApi{bad}, std::invalid_argument);
  ServerConfig no_key;
  no_key.tls_cert_file = "/nonexistent.pem";
  EXPECT_THROW(FakeApi{no_key}, std::invalid_argument);

  Client client(api->port());
  ASSERT_EQ(client.get("/version").status(), 200);
  api->stop();
  api->stop();  // idempotent
  // The kept-alive connection is closed by stop(): the next request fails.
  EXPECT_TRUE(client.get("/version").ec);
  api.reset();
}

TEST(FakeApiLifecycle, ServesManyConnectionsOnSeveralThreads) {
  ServerConfig config;
  config.threads = 2;
  FakeApi api(config);
  std::vector<std::future<int>> workers;
  for (int w = 0; w < 4; ++w) {
    workers.push_back(std::async(std::launch::async, [port = api.port(), w] {
      Client client(port);
      int ok = 0;
      for (int i = 0; i < 50; ++i) {
        const std::string id = std::to_string(w) + "-" + std::to_string(i);
        ok += client.post(insert_path("p"), R"({"events":[{"id":")" + id + R"("}]})").status() == 200;
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& worker : workers) ok += worker.get();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(api.row_count("project_logs", "p"), 200u);
  EXPECT_EQ(api.stats().unique_rows, 200u);
}

TEST(FakeApiLifecycle, RejectsANonPositiveIdleTimeout) {
  ServerConfig config;
  config.idle_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(FakeApi{config}, std::invalid_argument);
}

// ---- the wire: how requests arrive ------------------------------------------------

// A connection that writes raw bytes and reads whatever comes back, each step
// under a deadline, for requests the Client above cannot shape.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : stream_(ioc_) {
    stream_.expires_after(kTimeout);
    stream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                          [&](boost::system::error_code ec) { ec_ = ec; });
    run();
  }

  boost::system::error_code write(std::string_view bytes) {
    stream_.expires_after(kTimeout);
    net::async_write(stream_, net::buffer(bytes),
                     [&](boost::system::error_code ec, std::size_t) { ec_ = ec; });
    run();
    return ec_;
  }

  // Reads one response; ec is set when none arrives.
  Reply read_response() {
    Reply reply;
    stream_.expires_after(kTimeout);
    http::async_read(stream_, buffer_, reply.res,
                     [&](boost::system::error_code ec, std::size_t) { reply.ec = ec; });
    run();
    return reply;
  }

  // Reads until the server closes the connection (or kTimeout passes); returns
  // what arrived and how the reading ended.
  std::pair<std::string, boost::system::error_code> read_until_closed() {
    std::string received(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    char chunk[4096];
    boost::system::error_code ended;
    stream_.expires_after(kTimeout);
    std::function<void(boost::system::error_code, std::size_t)> on_read = [&](boost::system::error_code ec,
                                                                              std::size_t n) {
      received.append(chunk, n);
      if (ec) {
        ended = ec;
        return;
      }
      stream_.async_read_some(net::buffer(chunk), on_read);
    };
    stream_.async_read_some(net::buffer(chunk), on_read);
    run();
    return {received, ended};
  }

  boost::system::error_code error() const { return ec_; }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::system::error_code ec_;
};

std::string insert_request(const std::string& object, const std::string& body) {
  return "POST " + insert_path(object) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// {"events":[{"id":"<prefix>0","input":"..."}, ...]} with `count` events.
std::string events_body(const std::string& prefix, int count, std::size_t input_bytes) {
  std::string body = R"({"events":[)";
  for (int i = 0; i < count; ++i) {
    if (i > 0) body.push_back(',');
    body += R"({"id":")" + prefix + std::to_string(i) + R"(","input":")" + std::string(input_bytes, 'x') +
            R"("})";
  }
  body += "]}";
  return body;
}

TEST(FakeApiWire, ChunkedBodiesAreDecoded) {
  FakeApi api(ServerConfig{});
  RawConnection connection(api.port());
  ASSERT_FALSE(connection.error()) << connection.error().message();
  const std::string body = R"({"events":[{"id":"c1"},{"id":"c2"}]})";
  std::string request =
      "POST " + insert_path("p") + " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < body.size(); at += 10) {
    const std::string piece = body.substr(at, 10);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    request += size + piece + "\r\n";
  }
  request += "0\r\n\r\n";
  ASSERT_FALSE(connection.write(request));
  const Reply reply = connection.read_response();
  ASSERT_FALSE(reply.ec) << reply.ec.message();
  EXPECT_EQ(reply.status(), 200) << reply.res.body();
  EXPECT_EQ(api.row_count("project_logs", "p"), 2u);
  EXPECT_EQ(api.stats().bytes_decoded, body.size());
}

TEST(FakeApiWire, PipelinedRequestsAreAnsweredInOrder) {
  for (const StoreMode mode : {StoreMode::full, StoreMode::ids}) {
    FakeApi api(ServerConfig{.store = mode});
    RawConnection connection(api.port());
    // Three requests in one write: each body ends exactly where the next request starts.
    const std::string first = insert_request("p", R"({"events":[{"id":"a"}]})");
    const std::string second = insert_request("p", R"({"events":[{"id":"b"},{"id":"c"}]})");
    ASSERT_FALSE(connection.write(first + second + "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    const Reply one = connection.read_response();
    const Reply two = connection.read_response();
    const Reply three = connection.read_response();
    ASSERT_FALSE(one.ec || two.ec || three.ec);
    EXPECT_EQ(one.res.body(), R"({"row_ids":["a"]})");
    EXPECT_EQ(two.res.body(), R"({"row_ids":["b","c"]})");
    EXPECT_EQ(three.status(), 200);
    EXPECT_TRUE(three.json().as_object().contains("version"));
    EXPECT_EQ(api.stats().rows_received, 3u);
  }
}

TEST(FakeApiWire, LargeBodiesArrivingInPiecesAreReadWhole) {
  for (const StoreMode mode : {StoreMode::full, StoreMode::ids}) {
    FakeApi api(ServerConfig{.store = mode});
    RawConnection connection(api.port());
    // Several MiB, so the body outgrows the socket buffers and arrives over many receives.
    const std::string body = events_body("row-", 3000, 1000);
    const std::string request = insert_request("big", body);
    const std::size_t half = request.find("\r\n\r\n") + 100;
    ASSERT_FALSE(connection.write(std::string_view(request).substr(0, half)));
    ASSERT_FALSE(connection.write(std::string_view(request).substr(half)));
    const Reply reply = connection.read_response();
    ASSERT_FALSE(reply.ec) << reply.ec.message();
    ASSERT_EQ(reply.status(), 200) << reply.res.body().substr(0, 200);
    EXPECT_EQ(reply.json().at("row_ids").as_array().size(), 3000u);
    EXPECT_EQ(api.row_count("project_logs", "big"), 3000u);
    EXPECT_EQ(api.stats().bytes_received, body.size());

    // The same connection carries on, compressed this time.
    const std::string packed =
        spanline::detail::compress(spanline::Compression::zstd, events_body("z-", 500, 200));
    ASSERT_FALSE(
        connection.write("POST " + insert_path("big") +
                         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: zstd\r\nContent-Length: " +
                         std::to_string(packed.size()) + "\r\n\r\n" + packed));
    const Reply second = connection.read_response();
    ASSERT_FALSE(second.ec) << second.ec.message();
    EXPECT_EQ(second.status(), 200);
    EXPECT_EQ(api.row_count("project_logs", "big"), 3500u);
  }
}

TEST(FakeApiWire, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  FakeApi api(ServerConfig{.idle_timeout = std::chrono::milliseconds(200)});
  RawConnection idle(api.port());
  ASSERT_FALSE(idle.error()) << idle.error().message();
  const auto [received, ended] = idle.read_until_closed();
  EXPECT_EQ(ended, net::error::eof) << ended.message();  // not our own deadline
  EXPECT_TRUE(received.empty());

  // A request whose body stops arriving is not answered either, nor counted.
  RawConnection stalled(api.port());
  ASSERT_FALSE(stalled.write("POST " + insert_path("p") +
                             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"events\":"));
  const auto [partial_received, partial_ended] = stalled.read_until_closed();
  EXPECT_EQ(partial_ended, net::error::eof) << partial_ended.message();
  EXPECT_TRUE(partial_received.empty());
  EXPECT_EQ(api.stats().requests_total, 0u);
}

TEST(FakeApiWire, ConnectionsIdleForLessThanTheTimeoutStayOpen) {
  FakeApi api(ServerConfig{.idle_timeout = std::chrono::seconds(60)});
  RawConnection connection(api.port());
  const std::string request = "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_FALSE(connection.write(request));
  ASSERT_EQ(connection.read_response().status(), 200);
  // Idle across several of the server's deadline checks (one a second): the
  // idleness itself is what is tested, so here a sleep is the point.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ASSERT_FALSE(connection.write(request));
  const Reply again = connection.read_response();
  ASSERT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.status(), 200);
}

// ---- TLS ---------------------------------------------------------------------------

// Writes a throwaway self-signed certificate and key for 127.0.0.1.
void write_self_signed(const std::string& cert_path, const std::string& key_path) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"),
                             -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* cert_file = std::fopen(cert_path.c_str(), "w");
  FILE* key_file = std::fopen(key_path.c_str(), "w");
  ASSERT_TRUE(cert_file && key_file);
  PEM_write_X509(cert_file, cert);
  PEM_write_PrivateKey(key_file, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(cert_file);
  std::fclose(key_file);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST(FakeApiTls, ServesHttps) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("spanline-fakeapi-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  write_self_signed(cert, key);

  ServerConfig config;
  config.tls_cert_file = cert;
  config.tls_key_file = key;
  FakeApi api(config);
  EXPECT_EQ(api.base_url(), "https://127.0.0.1:" + std::to_string(api.port()));

  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.load_verify_file(cert);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_mode(net::ssl::verify_peer);
  beast::get_lowest_layer(stream).expires_after(kTimeout);
  boost::system::error_code ec;
  beast::get_lowest_layer(stream).async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), api.port()), [&](auto e) { ec = e; });
  ioc.run();
  ASSERT_FALSE(ec) << ec.message();
  ioc.restart();
  stream.async_handshake(net::ssl::stream_base::client, [&](auto e) { ec = e; });
  ioc.run();
  ASSERT_FALSE(ec) << ec.message();

  http::request<http::string_body> req(http::verb::get, "/version", 11);
  req.set(http::field::host, "127.0.0.1");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  ioc.restart();
  http::async_write(stream, req, [&](auto e, std::size_t) {
    ec = e;
    if (!e) http::async_read(stream, buffer, res, [&](auto e2, std::size_t) { ec = e2; });
  });
  ioc.run();
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_NE(res.body().find("logs3_payload_max_bytes"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// ---- the binary ----------------------------------------------------------------------

#ifdef SPANLINE_BINARY_DIR
// Reads one line from `fd` within the deadline; "" on timeout or EOF.
std::string read_line(int fd, std::chrono::milliseconds deadline) {
  std::string line;
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    pollfd pfd{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) <= 0) continue;
    char c = 0;
    if (::read(fd, &c, 1) != 1) break;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return line;
}

TEST(FakeApiBinary, PrintsItsUrlAndStopsOnSigterm) {
  const std::string binary = SPANLINE_BINARY_DIR "/spanline-fakeapi";
  if (!std::filesystem::exists(binary)) GTEST_SKIP() << binary << " is not built";
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0", "--max-payload-bytes", "777"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  const std::string line = read_line(out[0], std::chrono::seconds(20));
  const std::string prefix = "listening on http://127.0.0.1:";
  bool stopped = false;
  if (line.rfind(prefix, 0) == 0) {
    const auto port = static_cast<std::uint16_t>(std::stoi(line.substr(prefix.size())));
    EXPECT_GT(port, 0);
    Client client(port);
    const Reply reply = client.get("/version");
    EXPECT_EQ(reply.status(), 200);
    EXPECT_EQ(reply.json().at("logs3_payload_max_bytes").as_int64(), 777);
  } else {
    ADD_FAILURE() << "first line was '" << line << "'";
  }
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // The child closes its stdout when it exits; wait for that with a deadline.
  pollfd pfd{out[0], POLLIN, 0};
  char scratch[256];
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until) {
    if (::poll(&pfd, 1, 1000) > 0 && ::read(out[0], scratch, sizeof scratch) <= 0) {
      stopped = true;
      break;
    }
  }
  ::close(out[0]);
  if (!stopped) ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(stopped) << "did not exit within the deadline after SIGTERM";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
#endif

}  // namespace
