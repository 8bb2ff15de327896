#include "server.hpp"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
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

constexpr auto kIoTimeout = std::chrono::seconds(30);      // one handshake or write
constexpr auto kLingerTimeout = std::chrono::seconds(5);   // draining after an early 413
constexpr auto kWatchdogPeriod = std::chrono::seconds(1);  // how late a deadline may be noticed
constexpr std::size_t kLingerMaxBytes = 64u << 20;
constexpr std::size_t kChunkedReadBytes = 64u << 10;  // buffer for bodies without Content-Length

// Each connection runs on its own strand (needed when there are several io
// threads). The concrete executor type, rather than any_io_executor, spares a
// type-erased executor copy on every operation.
using Executor = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, Executor>;
using PlainStream = Socket;
using TlsStream = beast::ssl_stream<Socket>;

// One connection: read a request, hand it to the Service, wait out any injected
// latency, answer (or reset), repeat while keep-alive holds.
//
// Deadlines are kept by a watchdog rather than by beast::tcp_stream, which arms
// a timer for every read_some: two timerfd_settime calls per receive were a
// tenth of this server's CPU under load. Each phase stores its deadline; the
// watchdog closes the socket once that deadline has passed, which aborts the
// pending operation just as an expired tcp_stream would.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using Clock = std::chrono::steady_clock;

 public:
  // idle_timeout: how long a request may take to arrive completely, counted
  // from the connection's start or from the previous answer.
  template <class... StreamArgs>
  Session(std::shared_ptr<Service> service, Clock::duration idle_timeout, StreamArgs&&... stream_args)
      : service_(std::move(service)),
        idle_timeout_(idle_timeout),
        stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(stream_.get_executor()),
        watchdog_(stream_.get_executor()) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::on_run, this->shared_from_this()));
  }

 private:
  Socket& lowest() { return beast::get_lowest_layer(stream_); }

  // Client disconnects and timeouts are normal for a test server: the session
  // simply ends, and its socket closes with it.
  void fail(beast::error_code, const char*) {}

  void set_deadline(Clock::duration timeout) {
    const auto now = Clock::now();
    deadline_ = timeout < Clock::time_point::max() - now ? now + timeout : Clock::time_point::max();
  }
  void clear_deadline() { deadline_ = Clock::time_point::max(); }

  // The watchdog holds the session weakly: it must not keep an idle or finished
  // session alive, and the session's destruction cancels it.
  void arm_watchdog() {
    watchdog_.expires_after(kWatchdogPeriod);
    watchdog_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
      if (auto self = weak.lock()) self->on_watchdog(ec);
    });
  }

  void on_watchdog(beast::error_code ec) {
    if (ec) return;  // cancelled: the session is going away
    if (Clock::now() >= deadline_) {
      beast::error_code ignored;
      lowest().close(ignored);  // the pending operation completes with operation_aborted
      return;
    }
    arm_watchdog();
  }

  void on_run() {
    arm_watchdog();
    if constexpr (kTls) {
      set_deadline(kIoTimeout);
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
    // The last request's body string goes to the next request: a load run sends bodies
    // of hundreds of KiB, and a fresh string for each one costs a page fault per 4 KiB
    // (glibc hands back and maps such sizes again).
    std::string reused_body;
    if (parser_) reused_body = std::move(parser_->get().body());
    reused_body.clear();
    parser_.emplace();
    parser_->get().body() = std::move(reused_body);
    parser_->body_limit(service_->max_payload_bytes());
    set_deadline(idle_timeout_);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, this->shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t bytes) {
    if (ec) return on_read(ec, bytes);
    if (parser_->is_done()) return on_request();
    const auto length = parser_->content_length();
    if (!length) {
      // Chunked: the parser decodes it, reading through buffer_. Beast reads at
      // most buffer_'s spare capacity (but at least 512 bytes), so give it room.
      buffer_.reserve(kChunkedReadBytes);
      return http::async_read(stream_, buffer_, *parser_,
                              beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }
    read_body(*length);
  }

  // With a Content-Length (already checked against the body limit) the body is
  // received straight into the request's string: a few large receives instead
  // of one per 512 bytes through buffer_ and a copy of each into the body.
  void read_body(std::size_t length) {
    std::string& body = parser_->get().body();
    body.reserve(length + kBodyPadding);  // lets the JSON parser read it in place
    body.resize(length);
    const std::size_t buffered = net::buffer_copy(net::buffer(body), buffer_.data());
    buffer_.consume(buffered);
    if (buffered == length) return on_request();
    net::async_read(stream_, net::buffer(body.data() + buffered, length - buffered),
                    beast::bind_front_handler(&Session::on_body, this->shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "read body");
    on_request();
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
    on_request();
  }

  void on_request() {
    Request& request = parser_->get();
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    outcome_ = service_->handle(request);
    if (outcome_.delay.count() > 0) {
      // A timer, never a sleep: the io thread keeps serving other connections.
      clear_deadline();
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
    set_deadline(kIoTimeout);
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
    lowest().set_option(net::socket_base::linger(true, 0), ec);
    lowest().close(ec);
  }

  void do_close() {
    if constexpr (kTls) {
      set_deadline(kIoTimeout);
      stream_.async_shutdown(beast::bind_front_handler(&Session::on_shutdown, this->shared_from_this()));
    } else {
      beast::error_code ec;
      lowest().shutdown(tcp::socket::shutdown_send, ec);
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
      lowest().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return fail(ec, "shutdown");
      drain_buffer_.resize(16 * 1024);
      set_deadline(kLingerTimeout);
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
  const Clock::duration idle_timeout_;
  Stream stream_;
  Timer timer_;     // injected latency
  Timer watchdog_;  // enforces deadline_
  Clock::time_point deadline_ = Clock::time_point::max();
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
  Listener(net::io_context& ioc, tcp::acceptor acceptor, ssl::context* ssl, std::shared_ptr<Service> service,
           std::chrono::steady_clock::duration idle_timeout)
      : ioc_(ioc),
        acceptor_(std::move(acceptor)),
        ssl_(ssl),
        service_(std::move(service)),
        idle_timeout_(idle_timeout) {}

  void run() {
    net::dispatch(acceptor_.get_executor(),
                  beast::bind_front_handler(&Listener::do_accept, shared_from_this()));
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, Socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (ssl_ != nullptr) {
        std::make_shared<Session<TlsStream>>(service_, idle_timeout_, std::move(socket), *ssl_)->run();
      } else {
        std::make_shared<Session<PlainStream>>(service_, idle_timeout_, std::move(socket))->run();
      }
    }
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  ssl::context* ssl_;
  std::shared_ptr<Service> service_;
  const std::chrono::steady_clock::duration idle_timeout_;
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
                                         std::move(service), config.idle_timeout);
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
