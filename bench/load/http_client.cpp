#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <optional>
#include <stdexcept>

namespace spanline::load {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpEndpoint parse_http_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("not a URL: '" + std::string(url) + "'");
  if (parsed->scheme() != "http")
    throw std::invalid_argument("only http:// URLs are supported here, got '" + std::string(url) + "'");
  HttpEndpoint e;
  e.host = std::string(parsed->host());
  e.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  e.path_prefix = std::string(parsed->encoded_path());
  while (!e.path_prefix.empty() && e.path_prefix.back() == '/') e.path_prefix.pop_back();
  if (e.host.empty()) throw std::invalid_argument("URL without a host: '" + std::string(url) + "'");
  return e;
}

struct HttpClient::Impl {
  HttpEndpoint endpoint;
  std::string authorization;
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  bool connect(std::chrono::milliseconds timeout, std::string& error) {
    stream.emplace(io);
    beast::error_code ec;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(endpoint.host, endpoint.port, ec);
    if (ec) {
      error = "resolve: " + ec.message();
      return false;
    }
    stream->expires_after(timeout);
    stream->connect(results, ec);
    if (ec) {
      error = "connect: " + ec.message();
      stream.reset();
      return false;
    }
    stream->socket().set_option(asio::ip::tcp::no_delay(true), ec);
    return true;
  }

  // Synchronous Beast calls ignore expires_after, so each step runs as an async
  // operation driven by io.run() with the stream's deadline applied.
  HttpResponse once(std::string_view method, std::string_view target, std::string_view body,
                    std::chrono::milliseconds timeout, std::string_view content_type) {
    HttpResponse out;
    if (!stream && !connect(timeout, out.error)) return out;
    http::request<http::string_body> req{http::string_to_verb(method),
                                         endpoint.path_prefix + std::string(target), 11};
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, "spanline-load");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    if (!body.empty()) req.set(http::field::content_type, content_type);
    req.body() = std::string(body);
    req.prepare_payload();
    req.keep_alive(true);

    http::response<http::string_body> res;
    beast::error_code result_ec;
    stream->expires_after(timeout);
    http::async_write(*stream, req, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        result_ec = ec;
        return;
      }
      stream->expires_after(timeout);
      http::async_read(*stream, buffer, res, [&](beast::error_code ec2, std::size_t) { result_ec = ec2; });
    });
    io.restart();
    io.run();
    if (result_ec) {
      out.error = result_ec.message();
      stream.reset();
      buffer.clear();
      return out;
    }
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (!res.keep_alive()) {
      stream.reset();
      buffer.clear();
    }
    return out;
  }
};

HttpClient::HttpClient(HttpEndpoint endpoint, std::string bearer_token) : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = std::move(endpoint);
  if (!bearer_token.empty()) impl_->authorization = "Bearer " + bearer_token;
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::request(std::string_view method, std::string_view target, std::string_view body,
                                 std::chrono::milliseconds timeout, std::string_view content_type) {
  try {
    const bool reused = impl_->stream.has_value();
    HttpResponse res = impl_->once(method, target, body, timeout, content_type);
    // A kept-alive connection the server closed in the meantime fails at once: retry fresh.
    if (res.status == 0 && reused) res = impl_->once(method, target, body, timeout, content_type);
    return res;
  } catch (const std::exception& e) {
    impl_->stream.reset();
    return HttpResponse{0, {}, e.what()};
  }
}

}  // namespace spanline::load
