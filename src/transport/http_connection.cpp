#include "transport/http_connection.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <optional>
#include <stdexcept>

namespace spanline::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

std::shared_ptr<ssl::context> make_tls_context(const std::string& ca_file, bool verify) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  error_code ec;
  // The system store is always trusted; a missing one is not fatal (ca_file may suffice).
  context->set_default_verify_paths(ec);
  if (!ca_file.empty()) {
    context->load_verify_file(ca_file, ec);
    if (ec) throw std::invalid_argument("ca_file: cannot load \"" + ca_file + "\": " + ec.message());
  }
  context->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  return context;
}

struct HttpConnection::Streams {
  Streams(const net::any_io_executor& executor) : resolver(executor), resolve_timer(executor) {}

  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *tcp; }

  net::ip::tcp::resolver resolver;
  net::steady_timer resolve_timer;
  std::optional<beast::tcp_stream> tcp;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  http::request<http::string_body> message;
  std::optional<http::response_parser<http::string_body>> parser;
  net::any_io_executor executor;
  bool resolve_timed_out = false;
};

HttpConnection::HttpConnection(net::any_io_executor executor, std::shared_ptr<const HttpSettings> settings,
                               std::shared_ptr<ssl::context> tls, bool verify_peer)
    : settings_(std::move(settings)),
      tls_(std::move(tls)),
      verify_peer_(verify_peer),
      streams_(std::make_unique<Streams>(executor)) {
  streams_->executor = std::move(executor);
}

HttpConnection::~HttpConnection() = default;

bool HttpConnection::is_open() const noexcept { return !done_ && is_open_socket(); }

void HttpConnection::close() noexcept {
  // Only cancel and close here: the streams may have operations pending, and are
  // recreated on the next connect.
  error_code ignored;
  streams_->resolver.cancel();
  streams_->resolve_timer.cancel();
  if (streams_->tcp || streams_->tls) {
    streams_->lowest().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    streams_->lowest().socket().close(ignored);
  }
  connected_ = false;
}

void HttpConnection::async_request(HttpRequest request, Callback done) {
  done_ = std::move(done);
  request_ = std::move(request);
  stale_retry_ = false;

  auto& message = streams_->message;
  message = {};
  message.version(11);
  message.method(request_.method == HttpRequest::Method::post ? http::verb::post : http::verb::get);
  message.target(request_.target);
  message.set(http::field::host, settings_->url.host_header());
  for (const auto& [name, value] : request_.headers) message.set(name, value);
  // Moved, not copied: request bodies are megabytes.
  message.body() = std::move(request_.body);
  message.keep_alive(true);
  message.prepare_payload();

  if (is_open_socket()) {
    reused_ = true;
    write();
  } else {
    reused_ = false;
    connect();
  }
}

bool HttpConnection::is_open_socket() const noexcept {
  return connected_ && (streams_->tcp || streams_->tls) && streams_->lowest().socket().is_open();
}

void HttpConnection::reset_streams() noexcept {
  // Called only when no operation is pending on the streams.
  streams_->tls.reset();
  streams_->tcp.reset();
  streams_->buffer.clear();
  connected_ = false;
}

void HttpConnection::connect() {
  reset_streams();
  if (tls_) {
    streams_->tls.emplace(streams_->executor, *tls_);
  } else {
    streams_->tcp.emplace(streams_->executor);
  }
  const BaseUrl& url = settings_->url;

  error_code ec;
  auto address = net::ip::make_address(url.host, ec);
  if (!ec) {
    streams_->lowest().expires_after(settings_->connect_timeout);
    streams_->lowest().async_connect(net::ip::tcp::endpoint(address, url.port),
                                     [self = shared_from_this()](error_code ec) { self->on_connect(ec); });
    return;
  }

  // The resolver has no deadline of its own.
  streams_->resolve_timed_out = false;
  streams_->resolve_timer.expires_after(settings_->connect_timeout);
  streams_->resolve_timer.async_wait([self = shared_from_this()](error_code ec) {
    if (ec) return;
    self->streams_->resolve_timed_out = true;
    self->streams_->resolver.cancel();
  });
  streams_->resolver.async_resolve(
      url.host, std::to_string(url.port),
      [self = shared_from_this()](error_code ec, net::ip::tcp::resolver::results_type results) {
        self->streams_->resolve_timer.cancel();
        if (ec)
          return self->fail(self->streams_->resolve_timed_out ? error_code(beast::error::timeout) : ec,
                            "resolve");
        self->streams_->lowest().expires_after(self->settings_->connect_timeout);
        self->streams_->lowest().async_connect(
            results, [self](error_code ec, const net::ip::tcp::endpoint&) { self->on_connect(ec); });
      });
}

void HttpConnection::on_connect(error_code ec) {
  if (ec) return fail(ec, "connect");
  streams_->lowest().socket().set_option(net::ip::tcp::no_delay(true), ec);
  if (!streams_->tls) {
    connected_ = true;
    return write();
  }

  const BaseUrl& url = settings_->url;
  auto* native = streams_->tls->native_handle();
  // SNI names a host, never an address (RFC 6066).
  if (!url.host_is_ip() && !SSL_set_tlsext_host_name(native, url.host.c_str())) {
    return fail(error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()), "handshake");
  }
  if (verify_peer_) {
    streams_->tls->set_verify_mode(ssl::verify_peer, ec);
    if (!ec) streams_->tls->set_verify_callback(ssl::host_name_verification(url.host), ec);
    if (ec) return fail(ec, "handshake");
  }
  streams_->lowest().expires_after(settings_->connect_timeout);
  streams_->tls->async_handshake(ssl::stream_base::client,
                                 [self = shared_from_this()](error_code ec) { self->on_handshake(ec); });
}

void HttpConnection::on_handshake(error_code ec) {
  if (ec) return fail(ec, "handshake");
  connected_ = true;
  write();
}

void HttpConnection::write() {
  streams_->lowest().expires_after(settings_->request_timeout);
  auto handler = [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); };
  if (streams_->tls) {
    http::async_write(*streams_->tls, streams_->message, std::move(handler));
  } else {
    http::async_write(*streams_->tcp, streams_->message, std::move(handler));
  }
}

void HttpConnection::on_write(error_code ec) {
  if (ec) {
    if (retry_stale(ec)) return;
    return fail(ec, "write");
  }
  auto& parser = streams_->parser.emplace();
  parser.body_limit(settings_->max_response_bytes);
  streams_->lowest().expires_after(settings_->request_timeout);
  auto handler = [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); };
  if (streams_->tls) {
    http::async_read(*streams_->tls, streams_->buffer, parser, std::move(handler));
  } else {
    http::async_read(*streams_->tcp, streams_->buffer, parser, std::move(handler));
  }
}

void HttpConnection::on_read(error_code ec) {
  if (ec) {
    if (!streams_->parser->is_header_done() && retry_stale(ec)) return;
    return fail(ec, "read");
  }
  streams_->lowest().expires_never();
  auto response = streams_->parser->release();
  HttpResult result;
  result.status = static_cast<int>(response.result_int());
  if (auto it = response.find(http::field::retry_after); it != response.end()) {
    result.retry_after = std::string(it->value());
  }
  if (!response.keep_alive()) close();
  result.body = std::move(response.body());
  finish(std::move(result));
}

// A keep-alive connection the server closed while it sat idle fails on first use;
// that says nothing about this request, so reconnect once instead of reporting it.
bool HttpConnection::retry_stale(error_code ec) {
  if (!reused_ || stale_retry_ || !done_) return false;
  if (ec != http::error::end_of_stream && ec != net::error::eof && ec != net::error::connection_reset &&
      ec != net::error::broken_pipe && ec != ssl::error::stream_truncated) {
    return false;
  }
  stale_retry_ = true;
  reused_ = false;
  connect();
  return true;
}

void HttpConnection::fail(error_code ec, std::string_view step) {
  close();
  HttpResult result;
  result.ec = ec;
  result.step = step;
  finish(std::move(result));
}

void HttpConnection::finish(HttpResult result) {
  if (!done_) return;
  request_.body = std::move(streams_->message.body());
  result.request = std::move(request_);
  // Taken out first: the callback may start the next exchange on this connection.
  Callback done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace spanline::detail
