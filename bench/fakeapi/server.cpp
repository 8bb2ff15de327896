#include "server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <string>
#include <system_error>
#include <type_traits>

namespace spanline::fakeapi::detail {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(120);  // between requests on a connection
constexpr auto kIoTimeout = std::chrono::seconds(30);     // one handshake or write
constexpr auto kLingerTimeout = std::chrono::seconds(5);  // draining after an early 413
constexpr std::size_t kLingerMaxBytes = 64u << 20;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: read a request, hand it to the Service, wait out any injected
// latency, answer (or reset), repeat while keep-alive holds.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  template <class... StreamArgs>
  explicit Session(std::shared_ptr<Service> service, StreamArgs&&... stream_args)
      : service_(std::move(service)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::on_run, this->shared_from_this()));
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // Client disconnects and timeouts are normal for a test server: the session
  // simply ends, and its socket closes with it.
  void fail(beast::error_code, const char*) {}

  void on_run() {
    if constexpr (kTls) {
      lowest().expires_after(kIoTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
    } else {
      do_read();
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail(ec, "handshake");
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(service_->max_payload_bytes());
    lowest().expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      // The rest of the body is still on the wire: answer, then drain and close,
      // so the client reads the 413 instead of a connection reset.
      outcome_ = service_->body_too_large(parser_->get());
      keep_alive_ = false;
      linger_ = true;
      version_ = parser_->get().version();
      return deliver();
    }
    if (ec) return fail(ec, "read");
    Request& request = parser_->get();
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    outcome_ = service_->handle(request);
    if (outcome_.delay.count() > 0) {
      // A timer, never a sleep: the io thread keeps serving other connections.
      timer_.expires_after(outcome_.delay);
      timer_.async_wait(beast::bind_front_handler(&Session::on_delay, this->shared_from_this()));
      return;
    }
    deliver();
  }

  void on_delay(beast::error_code ec) {
    if (ec) return fail(ec, "delay");
    deliver();
  }

  void deliver() {
    // Counted before the answer leaves, so a client that has seen the answer also
    // sees it in the stats.
    service_->record(outcome_);
    if (outcome_.reset) return abort_connection();
    response_ = {};
    response_.version(version_);
    response_.result(outcome_.status);
    response_.set(http::field::server, "spanline-fakeapi");
    response_.set(http::field::content_type, "application/json");
    if (outcome_.retry_after_s >= 0) {
      response_.set(http::field::retry_after, std::to_string(outcome_.retry_after_s));
    }
    response_.body() = std::move(outcome_.body);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    lowest().expires_after(kIoTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "write");
    if (!keep_alive_) return linger_ ? linger_close() : do_close();
    do_read();
  }

  // The reset fault: RST instead of FIN, as a crashed peer or a middlebox would.
  void abort_connection() {
    beast::error_code ec;
    lowest().socket().set_option(net::socket_base::linger(true, 0), ec);
    lowest().socket().close(ec);
  }

  void do_close() {
    if constexpr (kTls) {
      lowest().expires_after(kIoTimeout);
      stream_.async_shutdown(beast::bind_front_handler(&Session::on_shutdown, this->shared_from_this()));
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  void on_shutdown(beast::error_code ec) {
    if (ec) return fail(ec, "shutdown");
  }

  void linger_close() {
    if constexpr (kTls) {
      do_close();
    } else {
      beast::error_code ec;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return fail(ec, "shutdown");
      drain_buffer_.resize(16 * 1024);
      lowest().expires_after(kLingerTimeout);
      do_drain();
    }
  }

  void do_drain() {
    lowest().async_read_some(net::buffer(drain_buffer_),
                             beast::bind_front_handler(&Session::on_drain, this->shared_from_this()));
  }

  void on_drain(beast::error_code ec, std::size_t bytes) {
    if (ec) return;  // EOF (the client is done) or the linger deadline
    drained_ += bytes;
    if (drained_ > kLingerMaxBytes) return;
    do_drain();
  }

  std::shared_ptr<Service> service_;
  Stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  Outcome outcome_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool linger_ = false;
  std::vector<char> drain_buffer_;
  std::size_t drained_ = 0;
};

}  // namespace

// Accepts connections, each on its own strand, until the io_context stops.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::acceptor acceptor, ssl::context* ssl,
           std::shared_ptr<Service> service)
      : ioc_(ioc), acceptor_(std::move(acceptor)), ssl_(ssl), service_(std::move(service)) {}

  void run() {
    net::dispatch(acceptor_.get_executor(),
                  beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (ssl_ != nullptr) {
        std::make_shared<Session<TlsStream>>(service_, std::move(socket), *ssl_)->run();
      } else {
        std::make_shared<Session<PlainStream>>(service_, std::move(socket))->run();
      }
    }
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  ssl::context* ssl_;
  std::shared_ptr<Service> service_;
};

namespace {

[[noreturn]] void throw_system_error(const beast::error_code& ec, const std::string& what) {
  throw std::system_error(static_cast<std::error_code>(ec), what);
}

}  // namespace

Server::Server(const ServerConfig& config, std::shared_ptr<Service> service)
    : ioc_(std::make_unique<net::io_context>(static_cast<int>(config.threads))) {
  if (!config.tls_cert_file.empty() || !config.tls_key_file.empty()) {
    if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
      throw std::invalid_argument("fake API: TLS needs both a certificate file and a key file");
    }
    ssl_.emplace(ssl::context::tls_server);
    ssl_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    ssl_->use_certificate_chain_file(config.tls_cert_file, ec);
    if (ec) throw_system_error(ec, "fake API: cannot load TLS certificate " + config.tls_cert_file);
    ssl_->use_private_key_file(config.tls_key_file, ssl::context::pem, ec);
    if (ec) throw_system_error(ec, "fake API: cannot load TLS key " + config.tls_key_file);
  }

  beast::error_code ec;
  const auto address = net::ip::make_address(config.host, ec);
  if (ec) throw_system_error(ec, "fake API: invalid listen address '" + config.host + "'");
  const tcp::endpoint endpoint(address, config.port);
  const std::string where = config.host + ":" + std::to_string(config.port);
  tcp::acceptor acceptor(*ioc_);
  acceptor.open(endpoint.protocol(), ec);
  if (ec) throw_system_error(ec, "fake API: cannot open a socket for " + where);
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) throw_system_error(ec, "fake API: cannot set SO_REUSEADDR on " + where);
  acceptor.bind(endpoint, ec);
  if (ec) throw_system_error(ec, "fake API: cannot bind " + where);
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw_system_error(ec, "fake API: cannot listen on " + where);
  port_ = acceptor.local_endpoint().port();
  listener_ = std::make_shared<Listener>(*ioc_, std::move(acceptor), ssl_ ? &*ssl_ : nullptr,
                                         std::move(service));
}

Server::~Server() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; stop() only fails when joining fails.
  }
}

void Server::start(unsigned threads) {
  listener_->run();
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([ioc = ioc_.get()] {
      // Handlers catch their own errors; this keeps a stray exception from
      // killing the process and keeps the thread serving.
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (...) {
        }
      }
    });
  }
}

void Server::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  ioc_->stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  // Destroying the io_context destroys every pending handler, and with them the
  // sessions and the acceptor, which closes their sockets now rather than later.
  listener_.reset();
  ioc_.reset();
}

}  // namespace spanline::fakeapi::detail
