// The reverse proxy (api_proxy.hpp) in process: an HttpServer that forwards everything to an
// upstream run by the test, which shows what arrived and answers as each test needs (streamed,
// silent, absent).

#include "api_proxy.hpp"

#include "log.hpp"
#include "support/wait_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <future>
#include <map>
#include <thread>

namespace spanline::agent {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kKey = "sk-proxy-unit-secret-4242";

// The proxy under test: an HTTP server on 127.0.0.1 whose every request goes to ApiProxy.
class ProxyUnderTest {
 public:
  explicit ProxyUnderTest(ProxySettings settings) : work_(io_.get_executor()) {
    proxy_ = std::make_shared<ApiProxy>(std::move(settings), counters_);
    server_ =
        make_http_server(io_, "proxy", ListenAddress{"127.0.0.1", 0}, HttpServerLimits{},
                         DeferringHttpHandler([proxy = proxy_](HttpRequest& request, const HttpResponder& r) {
                           proxy->forward(std::move(request), r);
                           return std::optional<HttpResponse>();
                         }));
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ProxyUnderTest() {
    server_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }
  std::uint64_t outcomes(std::string_view route, ProxyOutcome outcome) const {
    for (std::size_t r = 0; r < kProxyRouteNames.size(); ++r) {
      if (kProxyRouteNames[r] == route)
        return counters_.snapshot().proxy[r][static_cast<std::size_t>(outcome)];
    }
    return 0;
  }

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  IngestCounters counters_;
  std::shared_ptr<ApiProxy> proxy_;
  std::shared_ptr<HttpServer> server_;
  std::thread thread_;
};

ProxySettings settings_for(std::uint16_t upstream_port, std::chrono::milliseconds timeout = 30s) {
  ProxySettings s;
  s.upstream_url = "http://127.0.0.1:" + std::to_string(upstream_port);
  s.timeout = timeout;
  return s;
}

// One upstream connection served by a test-written script on its own thread (blocking I/O).
class ScriptedUpstream {
 public:
  using Script = std::function<void(tcp::socket&, const http::request<http::string_body>&)>;
  explicit ScriptedUpstream(Script script) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this, script = std::move(script)] {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      script(socket, request);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    });
  }
  ~ScriptedUpstream() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

tcp::socket connect_to(asio::io_context& io, std::uint16_t port) {
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  return socket;
}

void send_request(tcp::socket& socket, http::verb verb, const std::string& target, const std::string& body,
                  const std::map<std::string, std::string>& headers = {}) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "spanlined.test");
  req.set(http::field::authorization, "Bearer " + kKey);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
}

http::response<http::string_body> exchange(std::uint16_t port, http::verb verb, const std::string& target,
                                           const std::string& body = {},
                                           const std::map<std::string, std::string>& headers = {}) {
  asio::io_context io;
  tcp::socket socket = connect_to(io, port);
  send_request(socket, verb, target, body, headers);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return res;
}

std::string reason_of(const http::response<http::string_body>& res) {
  return std::string(json::parse(res.body()).at("error").at("reason").as_string());
}

TEST(ApiProxy, RelaysTheFirstChunkBeforeTheUpstreamSendsTheRest) {
  std::promise<void> client_has_first;
  std::future<void> first_seen = client_has_first.get_future();
  std::atomic<bool> released_by_client{false};
  // The upstream sends one event, then holds the rest back until the client has that event:
  // a proxy that buffers the answer whole never delivers it, and the upstream gives up
  // waiting after 20 s and says so.
  ScriptedUpstream upstream([&](tcp::socket& socket, const http::request<http::string_body>&) {
    asio::write(socket, asio::buffer(std::string("HTTP/1.1 200 OK\r\n"
                                                 "Content-Type: text/event-stream\r\n"
                                                 "X-Upstream: streamed\r\n"
                                                 "Transfer-Encoding: chunked\r\n"
                                                 "Connection: close\r\n\r\n"
                                                 "d\r\ndata: first\n\n\r\n")));
    released_by_client = first_seen.wait_for(20s) == std::future_status::ready;
    boost::system::error_code ec;
    asio::write(socket,
                asio::buffer(std::string("e\r\ndata: second\n\n\r\nd\r\ndata: third\n\n\r\n0\r\n\r\n")), ec);
  });
  ProxyUnderTest proxy(settings_for(upstream.port()));

  asio::io_context io;
  tcp::socket socket = connect_to(io, proxy.port());
  send_request(socket, http::verb::post, "/function/invoke?stream=true", R"({"stream":true})");
  boost::beast::flat_buffer buffer;
  std::string_view seen;
  while (seen.find("data: first") == std::string_view::npos) {
    const std::size_t n = socket.read_some(buffer.prepare(4096));
    buffer.commit(n);
    seen = std::string_view(static_cast<const char*>(buffer.data().data()), buffer.size());
  }
  client_has_first.set_value();
  http::response<http::string_body> res;
  http::read(socket, buffer, res);  // the rest, after what is already in `buffer`

  EXPECT_TRUE(released_by_client.load()) << "the first event reached the client only with the rest";
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res["X-Upstream"], "streamed");
  EXPECT_EQ(res[http::field::content_type], "text/event-stream");
  EXPECT_TRUE(res.chunked()) << "a body without a length is framed for the client";
  EXPECT_EQ(res.body(), "data: first\n\ndata: second\n\ndata: third\n\n");
  EXPECT_TRUE(
      test_support::wait_for([&] { return proxy.outcomes("function", ProxyOutcome::answered) == 1; }, 10s));
}

TEST(ApiProxy, PassesStatusHeadersQueryBodyAndAuthorizationButNotHopByHop) {
  std::promise<http::request<http::string_body>> arrived;
  const std::string big(300 * 1024, 'x');  // several relay pieces
  ScriptedUpstream upstream([&](tcp::socket& socket, const http::request<http::string_body>& request) {
    arrived.set_value(request);
    http::response<http::string_body> res{http::status::created, 11};
    res.set("X-Upstream", "yes");
    res.set(http::field::connection, "X-Private");
    res.set("X-Private", "connection-scoped");
    res.set("Keep-Alive", "timeout=5");
    res.body() = big;
    res.prepare_payload();
    http::write(socket, res);
  });
  ProxyUnderTest proxy(settings_for(upstream.port()));

  const auto res = exchange(proxy.port(), http::verb::put, "/v1/prompt/abc?version=3&x=%20y", R"({"a":1})",
                            {{"Content-Type", "application/json"},
                             {"X-Custom", "kept"},
                             {"Connection", "X-Drop-Me"},
                             {"X-Drop-Me", "hop"},
                             {"TE", "trailers"},
                             {"Proxy-Authorization", "Basic c2VjcmV0"}});
  EXPECT_EQ(res.result_int(), 201u);
  EXPECT_EQ(res["X-Upstream"], "yes");
  EXPECT_EQ(res[http::field::content_length], std::to_string(big.size())) << "a known length is kept";
  EXPECT_FALSE(res.chunked());
  EXPECT_EQ(res.count("X-Private"), 0u) << "named by the upstream's Connection header";
  EXPECT_EQ(res.count("Keep-Alive"), 0u);
  EXPECT_EQ(res.body(), big);

  const auto request = arrived.get_future().get();
  EXPECT_EQ(request.method(), http::verb::put);
  EXPECT_EQ(request.target(), "/v1/prompt/abc?version=3&x=%20y");
  EXPECT_EQ(request.body(), R"({"a":1})");
  EXPECT_EQ(request[http::field::authorization], "Bearer " + kKey) << "the caller's credential is passed on";
  EXPECT_EQ(request["X-Custom"], "kept");
  EXPECT_EQ(request[http::field::host], "127.0.0.1:" + std::to_string(upstream.port()));
  for (const char* dropped : {"X-Drop-Me", "TE", "Proxy-Authorization"})
    EXPECT_EQ(request.count(dropped), 0u) << dropped;
  EXPECT_TRUE(
      test_support::wait_for([&] { return proxy.outcomes("prompt", ProxyOutcome::answered) == 1; }, 10s));
}

TEST(ApiProxy, SilentUpstreamBeforeItsHeadIs504Json) {
  std::promise<void> done;
  std::future<void> test_done = done.get_future();
  ScriptedUpstream upstream([&](tcp::socket&, const http::request<http::string_body>&) {
    test_done.wait_for(30s);  // answers nothing
  });
  ProxyUnderTest proxy(settings_for(upstream.port(), 200ms));
  const auto res = exchange(proxy.port(), http::verb::get, "/btql");
  done.set_value();
  EXPECT_EQ(res.result_int(), 504u);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(reason_of(res), "gateway_timeout");
  EXPECT_TRUE(test_support::wait_for(
      [&] { return proxy.outcomes("btql", ProxyOutcome::gateway_timeout) == 1; }, 10s));
}

TEST(ApiProxy, SilentUpstreamAfterItsHeadCutsTheConnection) {
  std::promise<void> done;
  std::future<void> test_done = done.get_future();
  ScriptedUpstream upstream([&](tcp::socket& socket, const http::request<http::string_body>&) {
    asio::write(socket, asio::buffer(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                 "6\r\npartly\r\n")));
    test_done.wait_for(30s);  // then nothing more
  });
  ProxyUnderTest proxy(settings_for(upstream.port(), 300ms));
  asio::io_context io;
  tcp::socket socket = connect_to(io, proxy.port());
  send_request(socket, http::verb::get, "/v1/function/f", "");
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(socket, buffer, res, ec);
  done.set_value();
  // The head and the first piece were passed on, then the connection was cut: the client
  // sees a truncated body as an error, never as a complete answer.
  EXPECT_EQ(ec, http::error::partial_message) << ec.message();
  EXPECT_TRUE(
      test_support::wait_for([&] { return proxy.outcomes("function", ProxyOutcome::cut_off) == 1; }, 10s));
}

TEST(ApiProxy, UnreachableUpstreamIs502JsonAndTheKeyIsNeverLogged) {
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = acceptor.local_endpoint().port();
  }
  set_log_level(LogLevel::debug);
  ::testing::internal::CaptureStderr();
  http::response<http::string_body> res;
  {
    ProxyUnderTest proxy(settings_for(closed_port));
    res = exchange(proxy.port(), http::verb::get, "/xact-id");
    EXPECT_TRUE(test_support::wait_for(
        [&] { return proxy.outcomes("xact_id", ProxyOutcome::bad_gateway) == 1; }, 10s));
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  set_log_level(LogLevel::info);
  EXPECT_EQ(res.result_int(), 502u);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(reason_of(res), "bad_gateway");
  EXPECT_NE(log.find("connect failed"), std::string::npos) << "the failure is logged at debug level: " << log;
  EXPECT_EQ(log.find(kKey), std::string::npos) << log;
}

TEST(ApiProxy, HeadAnswerKeepsItsLengthAndHasNoBody) {
  ScriptedUpstream upstream([&](tcp::socket& socket, const http::request<http::string_body>& request) {
    EXPECT_EQ(request.method(), http::verb::head);
    asio::write(
        socket,
        asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Upstream: head\r\n\r\n")));
  });
  ProxyUnderTest proxy(settings_for(upstream.port()));
  asio::io_context io;
  tcp::socket socket = connect_to(io, proxy.port());
  send_request(socket, http::verb::head, "/attachment?key=a", "");
  boost::beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  http::read(socket, buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get()[http::field::content_length], "1234");
  EXPECT_EQ(parser.get()["X-Upstream"], "head");
  EXPECT_TRUE(
      test_support::wait_for([&] { return proxy.outcomes("attachment", ProxyOutcome::answered) == 1; }, 10s));
}

TEST(ApiProxy, UnframedBodyToAnHttp10ClientEndsWithTheConnection) {
  ScriptedUpstream upstream([&](tcp::socket& socket, const http::request<http::string_body>&) {
    asio::write(socket, asio::buffer(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                                 "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")));
  });
  ProxyUnderTest proxy(settings_for(upstream.port()));
  asio::io_context io;
  tcp::socket socket = connect_to(io, proxy.port());
  http::request<http::string_body> req{http::verb::get, "/btql", 10};
  req.set(http::field::authorization, "Bearer " + kKey);
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);  // no length, not chunked: the body ends at the connection's end
  EXPECT_EQ(res.version(), 10u);
  EXPECT_FALSE(res.chunked());
  EXPECT_FALSE(res.has_content_length());
  EXPECT_EQ(res.body(), "hello world");
}

TEST(ApiProxy, BodyOverMaxResponseBytesIs502WhenAnnouncedAndCutWhenStreamed) {
  const std::string big(4096, 'b');
  ScriptedUpstream announced([&](tcp::socket& socket, const http::request<http::string_body>&) {
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = big;
    res.prepare_payload();
    boost::system::error_code ec;
    http::write(socket, res, ec);
  });
  ProxySettings settings = settings_for(announced.port());
  settings.max_response_bytes = 1024;
  {
    ProxyUnderTest proxy(settings);
    const auto res = exchange(proxy.port(), http::verb::get, "/v1/prompt/p");
    EXPECT_EQ(res.result_int(), 502u);
    EXPECT_EQ(reason_of(res), "response_too_large");
  }

  ScriptedUpstream streamed([&](tcp::socket& socket, const http::request<http::string_body>&) {
    std::string text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) text += "400\r\n" + std::string(1024, 'c') + "\r\n";
    text += "0\r\n\r\n";
    boost::system::error_code ec;
    asio::write(socket, asio::buffer(text), ec);
  });
  settings.upstream_url = "http://127.0.0.1:" + std::to_string(streamed.port());
  ProxyUnderTest proxy(settings);
  asio::io_context io;
  tcp::socket socket = connect_to(io, proxy.port());
  send_request(socket, http::verb::get, "/v1/prompt/p", "");
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::system::error_code ec;
  http::read(socket, buffer, res, ec);
  EXPECT_EQ(ec, http::error::partial_message) << "cut once past the limit: " << ec.message();
  EXPECT_TRUE(
      test_support::wait_for([&] { return proxy.outcomes("prompt", ProxyOutcome::cut_off) == 1; }, 10s));
}

}  // namespace
}  // namespace spanline::agent
