// The HTTP ingest's reverse proxy (api_proxy.hpp), end to end: the real spanlined binary in
// front of an upstream run here, which shows what arrived and answers what a test needs.

#include "agent/daemon_process.hpp"
#include "agent/prometheus_text.hpp"
#include "fake_api.hpp"
#include "http_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/json.hpp>

#include <mutex>

namespace spanline::testing {
namespace {

namespace http = boost::beast::http;
namespace json = boost::json;
using agent::HttpRequest;
using agent::HttpResponder;
using agent::HttpResponse;

const std::string kApiKey = "sk-proxy-test-key-0123456789";
const std::string kDaemon = SPANLINE_BINARY_DIR "/spanlined";

// An upstream on 127.0.0.1: /echo answers 201 with what it received as JSON, and headers of
// its own (hop-by-hop ones among them); /hang never answers.
class Upstream {
 public:
  Upstream() : work_(io_.get_executor()) {
    server_ = agent::make_http_server(
        io_, "upstream", agent::ListenAddress{"127.0.0.1", 0}, agent::HttpServerLimits{},
        agent::DeferringHttpHandler(
            [this](HttpRequest& request, const HttpResponder& responder) -> std::optional<HttpResponse> {
              if (request.target().starts_with("/hang")) {
                std::lock_guard lock(mutex_);
                hanging_.push_back(responder);  // kept: the connection stays open, unanswered
                return std::nullopt;
              }
              json::object headers;
              for (const auto& field : request)
                headers[std::string(field.name_string())] = std::string(field.value());
              json::object seen{{"method", std::string(request.method_string())},
                                {"target", std::string(request.target())},
                                {"body", request.body()},
                                {"headers", headers}};
              HttpResponse response = agent::make_response(request, 201, json::serialize(seen));
              response.set("X-Upstream", "yes");
              response.set(http::field::connection, "X-Private");
              response.set("X-Private", "connection-scoped");
              response.set("Keep-Alive", "timeout=5");
              return response;
            }));
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Upstream() {
    {
      std::lock_guard lock(mutex_);
      hanging_.clear();
    }
    server_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::string url() const { return server_->url(); }

 private:
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::shared_ptr<agent::HttpServer> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<HttpResponder> hanging_;
};

RunningDaemon start(const std::string& api_url, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--ingest.uds_path=off", "--ingest.datagram_path=off",
                                   "--ingest.http_listen=127.0.0.1:0", "--admin.listen=127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return launch_daemon(kDaemon, args, api_url, kApiKey);
}

struct RawAnswer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

RawAnswer request(const std::string& url, http::verb verb, const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers) {
  const std::string rest = url.substr(url.find("//") + 2);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::asio::ip::tcp::resolver resolver(io);
  boost::asio::connect(socket,
                       resolver.resolve(rest.substr(0, rest.rfind(':')), rest.substr(rest.rfind(':') + 1)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "spanlined.test");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  RawAnswer out{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  return out;
}

TEST(DaemonProxy, ForwardsMethodTargetBodyAndHeadersButNotHopByHop) {
  Upstream upstream;
  RunningDaemon d = start(upstream.url());
  const auto answer = request(d.http, http::verb::put, "/v1/prompt/abc?version=3&x=%20y", R"({"a":1})",
                              {{"Authorization", "Bearer " + kApiKey},
                               {"Content-Type", "application/json"},
                               {"X-Custom", "kept"},
                               {"Connection", "X-Drop-Me"},
                               {"X-Drop-Me", "hop"},
                               {"TE", "trailers"},
                               {"Proxy-Authorization", "Basic c2VjcmV0"}});
  ASSERT_EQ(answer.status, 201) << answer.body;
  const json::object seen = json::parse(answer.body).as_object();
  EXPECT_EQ(seen.at("method"), "PUT");
  EXPECT_EQ(seen.at("target"), "/v1/prompt/abc?version=3&x=%20y");
  EXPECT_EQ(seen.at("body"), R"({"a":1})");
  const json::object& headers = seen.at("headers").as_object();
  EXPECT_EQ(headers.at("Authorization").as_string(), "Bearer " + kApiKey)
      << "the caller's credential is passed on";
  EXPECT_EQ(headers.at("X-Custom"), "kept");
  EXPECT_EQ(headers.at("Host").as_string(), upstream.url().substr(std::string_view("http://").size()));
  for (const char* dropped : {"X-Drop-Me", "TE", "Proxy-Authorization"}) {
    EXPECT_FALSE(headers.contains(dropped)) << dropped;
  }
  EXPECT_EQ(answer.headers.at("x-upstream"), "yes");
  EXPECT_FALSE(answer.headers.count("x-private")) << "named by the upstream's Connection header";
  EXPECT_FALSE(answer.headers.count("keep-alive"));

  // Only authenticated callers are forwarded.
  EXPECT_EQ(request(d.http, http::verb::get, "/btql", "", {}).status, 401);

  const PromText metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  for (const auto& e : metrics.errors) ADD_FAILURE() << e;
  EXPECT_EQ(metrics.value("spanline_proxy_requests_total", {{"route", "prompt"}, {"outcome", "answered"}}),
            1);
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(DaemonProxy, UpstreamTimeoutIs504AndUnreachableIs502) {
  Upstream upstream;
  RunningDaemon d = start(upstream.url(), {"--proxy.timeout_ms=300"});
  const auto slow = request(d.http, http::verb::get, "/hang", "", {{"Authorization", "Bearer " + kApiKey}});
  EXPECT_EQ(slow.status, 504);
  EXPECT_EQ(json::parse(slow.body).at("error").at("reason"), "gateway_timeout");
  const PromText metrics = parse_prometheus(http_get(d.admin, "/metrics").body);
  EXPECT_EQ(
      metrics.value("spanline_proxy_requests_total", {{"route", "other"}, {"outcome", "gateway_timeout"}}),
      1);
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);

  // A port nobody listens on: bound, then closed.
  std::string closed_url;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  RunningDaemon down = start(closed_url);
  const auto refused =
      request(down.http, http::verb::get, "/xact-id", "", {{"Authorization", "Bearer " + kApiKey}});
  EXPECT_EQ(refused.status, 502);
  EXPECT_EQ(json::parse(refused.body).at("error").at("reason"), "bad_gateway");
  down.process->signal(SIGTERM);
  EXPECT_EQ(down.process->wait_exit(60s), 0);
}

TEST(DaemonProxy, StreamedAnswerToAnAllowedOriginCarriesTheCorsHeaders) {
  Upstream upstream;
  RunningDaemon d = start(upstream.url(), {"--ingest.allowed_origins=http://app.test"});
  const auto answer = request(d.http, http::verb::get, "/v1/function/f", "",
                              {{"Authorization", "Bearer " + kApiKey}, {"Origin", "http://app.test"}});
  ASSERT_EQ(answer.status, 201) << answer.body;
  EXPECT_EQ(answer.headers.at("access-control-allow-origin"), "http://app.test");
  EXPECT_EQ(answer.headers.at("x-upstream"), "yes");
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

TEST(DaemonProxy, FakeApiRoutesWorkThroughTheSidecar) {
  fakeapi::ServerConfig config;
  config.api_key = kApiKey;
  fakeapi::FakeApi api(config);
  RunningDaemon d = start(api.base_url());
  EXPECT_EQ(d.post("/v1/project", R"({"name":"through-proxy"})").status, 200);
  EXPECT_FALSE(api.project_id("through-proxy").empty());
  const auto listed = d.get("/v1/project?project_name=through-proxy");
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_NE(listed.body.find(api.project_id("through-proxy")), std::string::npos);
  d.process->signal(SIGTERM);
  EXPECT_EQ(d.process->wait_exit(60s), 0);
}

}  // namespace
}  // namespace spanline::testing
