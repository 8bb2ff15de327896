#include "http_server.hpp"

#include "log.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

namespace spanline::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

HttpResponse make_response(const HttpRequest& request, unsigned status, std::string body,
                           std::string_view content_type) {
  HttpResponse response{static_cast<http::status>(status), request.version()};
  response.set(http::field::server, "spanlined");
  response.set(http::field::content_type, content_type);
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

namespace {

// A connection's strand as a concrete type rather than any_io_executor: every read and write
// copies the executor several times, and the type-erased copies were 8% of the daemon's CPU
// under a /logs3 load (perf), for nothing, since a session's executor is always this strand.
using SessionExecutor = asio::strand<asio::io_context::executor_type>;
using SessionSocket = asio::basic_stream_socket<tcp, SessionExecutor>;
using SessionStream = beast::basic_stream<tcp, SessionExecutor>;

void bump(std::atomic<std::uint64_t>* counter, int delta) {
  if (counter == nullptr) return;
  if (delta > 0)
    counter->fetch_add(1, std::memory_order_relaxed);
  else
    counter->fetch_sub(1, std::memory_order_relaxed);
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionSocket socket, const std::string& name, const HttpServerLimits& limits,
          const std::shared_ptr<const DeferringHttpHandler>& handler, HttpConnectionCounters counters)
      : stream_(std::move(socket)), name_(name), limits_(limits), handler_(handler), counters_(counters) {
    bump(counters_.active, 1);
    bump(counters_.total, 1);
  }
  ~Session() { bump(counters_.active, -1); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }
  void close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      // A streamed answer may run for as long as its source keeps sending: cut it.
      if (self->streamed_body_) return self->end_stream();
      // A request waiting for its deferred answer gets it (the answer then closes the
      // connection): cutting it off would leave the client not knowing what came of it.
      if (self->awaiting_ != 0) return;
      error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.close();
    });
  }

 private:
  void read() {
    if (closing_) return;
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(limits_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec == beast::error::timeout && !closing_) {
      if (counters_.idle_closed != nullptr) counters_.idle_closed->fetch_add(1, std::memory_order_relaxed);
      log_debug(name_, "closing a connection idle for " + std::to_string(limits_.idle_timeout.count()) + " ms");
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || closing_) {
      return fail({}, "");
    }
    if (ec == http::error::body_limit) {
      HttpRequest head;
      head.version(parser_->get().version());
      head.keep_alive(false);
      std::string limit = std::to_string(limits_.max_body_bytes);
      std::string setting = limits_.body_limit_setting.empty() ? "" : " (" + limits_.body_limit_setting + ")";
      return write_error(make_response(head, 413,
                                       R"({"error":{"message":"request body larger than the limit of )" + limit +
                                           " bytes" + setting + R"(","reason":"body_too_large","max_body_bytes":)" +
                                           limit + "}}"));
    }
    if (ec) {
      HttpRequest head;
      head.keep_alive(false);
      return write_error(make_response(
          head, 400, R"({"error":{"message":"malformed HTTP request","reason":"malformed_http"}})"));
    }
    HttpRequest request = parser_->release();
    const bool keep_alive = request.keep_alive();
    const std::uint64_t number = ++requests_;
    std::optional<HttpResponse> response;
    try {
      response = (*handler_)(request, responder(number, keep_alive));
    } catch (const std::exception& e) {
      log_error(name_, std::string("handler failed: ") + e.what());
      response = make_response(request, 500, R"({"error":{"message":"internal error"}})");
    }
    if (!response) {
      // Answered later, on this strand; until then nothing is read (and no deadline runs: the
      // handler bounds its own wait).
      awaiting_ = number;
      return;
    }
    answer(std::move(*response), keep_alive);
  }

  HttpResponder responder(std::uint64_t number, bool keep_alive) {
    return HttpResponder{stream_.get_executor(),
                         [self = shared_from_this(), number, keep_alive](HttpResponse r) {
                           self->on_deferred_answer(number, keep_alive, std::move(r));
                         },
                         [self = shared_from_this(), number, keep_alive](StreamedResponse r) {
                           self->on_streamed_answer(number, keep_alive, std::move(r));
                         }};
  }

  void on_streamed_answer(std::uint64_t number, bool keep_alive, StreamedResponse answer) {
    if (awaiting_ != number || closing_) {
      if (answer.body) answer.body->cancel();
      if (awaiting_ == number) {
        awaiting_ = 0;
        fail({}, "");
      }
      return;
    }
    awaiting_ = 0;
    streamed_ = std::make_unique<http::response<http::buffer_body>>(std::move(answer.head));
    streamed_body_ = std::move(answer.body);
    auto& head = *streamed_;
    // Without a length, the end of the body must be marked: chunks for HTTP/1.1, the end of
    // the connection for HTTP/1.0.
    const bool has_length = head.has_content_length();
    if (!has_length && head.version() >= 11) head.chunked(true);
    streamed_close_ = !keep_alive || (!has_length && head.version() < 11);
    head.keep_alive(!streamed_close_);
    head.body().data = nullptr;
    head.body().more = true;
    serializer_.emplace(head);
    stream_.expires_after(limits_.idle_timeout);
    http::async_write_header(stream_, *serializer_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->end_stream(ec, "write");
      self->pull_piece();
    });
  }

  // No deadline on the client while the source is waited for: the source bounds its own wait.
  void pull_piece() {
    if (!streamed_body_) return;
    stream_.expires_never();
    // The body keeps this callback until it calls it: a weak reference back to the body, so
    // that the body does not keep itself alive.
    std::weak_ptr<StreamedBody> body = streamed_body_;
    streamed_body_->next([self = shared_from_this(), body = std::move(body)](error_code ec, asio::const_buffer piece,
                                                                            bool last) {
      if (self->streamed_body_ != body.lock()) return;  // cut meanwhile
      self->on_piece(ec, piece, last);
    });
  }

  void on_piece(error_code ec, asio::const_buffer piece, bool last) {
    if (ec) return end_stream(ec, "stream source");
    auto& body = streamed_->body();
    // buffer_body's pointer is not const, but the serializer only reads through it.
    body.data = const_cast<void*>(piece.data());
    body.size = piece.size();
    body.more = !last;
    stream_.expires_after(limits_.idle_timeout);
    http::async_write(stream_, *serializer_, [self = shared_from_this()](error_code e, std::size_t) {
      self->on_piece_written(e);
    });
  }

  void on_piece_written(error_code ec) {
    if (ec == http::error::need_buffer) ec = {};  // this piece is out; the body is not done
    if (ec) return end_stream(ec, "write");
    if (!serializer_->is_done()) return pull_piece();
    const bool close = streamed_close_ || closing_;
    serializer_.reset();
    streamed_.reset();
    streamed_body_.reset();
    if (close) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return fail({}, "");
    }
    read();
  }

  // A streamed answer that cannot finish: the connection is cut, so the client sees a
  // truncated body as an error instead of a complete answer.
  // The message and its serializer stay: a write still pending refers to them.
  void end_stream(error_code ec = {}, std::string_view step = "") {
    if (streamed_body_) streamed_body_->cancel();
    streamed_body_.reset();
    fail(ec, step);
  }

  void on_deferred_answer(std::uint64_t number, bool keep_alive, HttpResponse response) {
    // Only the request being waited for (not one already answered by a 500 from a handler
    // that threw after it took the responder).
    if (awaiting_ != number) return;
    awaiting_ = 0;
    answer(std::move(response), keep_alive);
  }

  void answer(HttpResponse response, bool request_keep_alive) {
    const bool close = !response.keep_alive() || !request_keep_alive || closing_;
    response.keep_alive(!close);
    write(std::move(response), close);
  }

  // An answer the server gives itself, after which the connection closes; the client may still
  // be sending the request body we refused.
  void write_error(HttpResponse response) {
    if (counters_.server_answered) counters_.server_answered(response.result_int());
    write(std::move(response), true, true);
  }

  void write(HttpResponse response, bool close_after, bool unread_input = false) {
    response_ = std::make_shared<HttpResponse>(std::move(response));
    stream_.expires_after(limits_.idle_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), close_after, unread_input](error_code ec, std::size_t) {
                        self->on_write(ec, close_after, unread_input);
                      });
  }

  void on_write(error_code ec, bool close_after, bool unread_input) {
    if (ec) return fail(ec, "write");
    response_.reset();
    if (close_after) {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      if (unread_input) drain();
      return;
    }
    read();
  }

  // Closing a socket with unread input makes the kernel answer with a reset, which can destroy
  // our answer before the client has read it (a client writing a large refused body sees only
  // "connection reset"). So read and discard until the client closes, for a bounded time.
  void drain() {
    stream_.expires_after(kLingerTime);
    drain_buffer_.resize(16 * 1024);
    drain_some();
  }
  void drain_some() {
    stream_.async_read_some(asio::buffer(drain_buffer_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec || self->closing_) return self->fail({}, "");
      self->drain_some();
    });
  }
  static constexpr std::chrono::seconds kLingerTime{5};

  void fail(error_code ec, std::string_view step) {
    if (ec && ec != asio::error::operation_aborted) log_debug(name_, std::string(step) + ": " + ec.message());
    stream_.close();
  }

  SessionStream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpResponse> response_;
  // A streamed answer being written (on_streamed_answer), with the source of its body.
  std::unique_ptr<http::response<http::buffer_body>> streamed_;
  std::optional<http::response_serializer<http::buffer_body>> serializer_;
  std::shared_ptr<StreamedBody> streamed_body_;
  bool streamed_close_ = false;
  std::vector<char> drain_buffer_;
  const std::string name_;  // copies: a session may outlive its server during teardown
  const HttpServerLimits limits_;
  std::shared_ptr<const DeferringHttpHandler> handler_;
  HttpConnectionCounters counters_;
  bool closing_ = false;
  std::uint64_t requests_ = 0;  // requests read so far
  std::uint64_t awaiting_ = 0;  // the request waiting for a deferred answer, 0 for none
};

class Server : public HttpServer, public std::enable_shared_from_this<Server> {
 public:
  Server(asio::io_context& io, std::string name, ListenAddress address, HttpServerLimits limits,
         DeferringHttpHandler handler, HttpConnectionCounters counters)
      : io_(io),
        acceptor_(asio::make_strand(io)),
        name_(std::move(name)),
        address_(std::move(address)),
        limits_(limits),
        handler_(std::make_shared<const DeferringHttpHandler>(std::move(handler))),
        counters_(counters) {}

  void start() override {
    error_code ec;
    const auto ip = asio::ip::make_address(address_.host, ec);
    const tcp::endpoint endpoint(ip, address_.port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      throw std::system_error(ec.value(), std::generic_category(),
                              name_ + " listener on " + address_.host + ":" + std::to_string(address_.port));
    }
    port_ = acceptor_.local_endpoint().port();
    asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->accept(); });
  }

  void stop() override {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      if (self->stopped_) return;
      self->stopped_ = true;
      error_code ignored;
      self->acceptor_.close(ignored);
      std::vector<std::weak_ptr<Session>> sessions;
      {
        std::lock_guard lock(self->sessions_mutex_);
        sessions.swap(self->sessions_);
      }
      for (auto& weak : sessions) {
        if (auto session = weak.lock()) session->close();
      }
    });
  }

  std::uint16_t port() const override { return port_; }
  std::string url() const override {
    const bool v6 = address_.host.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + address_.host + "]" : address_.host) + ":" + std::to_string(port_);
  }

 private:
  void accept() {
    if (stopped_) return;
    acceptor_.async_accept(asio::make_strand(io_.get_executor()),
                           [self = shared_from_this()](error_code ec, SessionSocket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(error_code ec, SessionSocket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      log_warn(name_, "accept failed: " + ec.message());
      return accept();
    }
    std::size_t active = 0;
    {
      std::lock_guard lock(sessions_mutex_);
      std::erase_if(sessions_, [](const std::weak_ptr<Session>& weak) { return weak.expired(); });
      active = sessions_.size();
    }
    if (active >= limits_.max_connections) {
      if (counters_.refused != nullptr) counters_.refused->fetch_add(1, std::memory_order_relaxed);
      log_warn(name_, "refusing a connection: connection limit (" + std::to_string(limits_.max_connections) +
                          ") reached");
      error_code ignored;
      socket.close(ignored);
      return accept();
    }
    auto session = std::make_shared<Session>(std::move(socket), name_, limits_, handler_, counters_);
    {
      std::lock_guard lock(sessions_mutex_);
      sessions_.push_back(session);
    }
    session->start();
    accept();
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  const std::string name_;
  const ListenAddress address_;
  const HttpServerLimits limits_;
  std::shared_ptr<const DeferringHttpHandler> handler_;
  HttpConnectionCounters counters_;
  std::atomic<std::uint16_t> port_{0};
  bool stopped_ = false;  // touched on the acceptor's strand only
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<Session>> sessions_;
};

}  // namespace

std::shared_ptr<HttpServer> make_http_server(asio::io_context& io, std::string name, ListenAddress address,
                                             HttpServerLimits limits, DeferringHttpHandler handler,
                                             HttpConnectionCounters counters) {
  return std::make_shared<Server>(io, std::move(name), std::move(address), limits, std::move(handler),
                                  counters);
}

std::shared_ptr<HttpServer> make_http_server(asio::io_context& io, std::string name, ListenAddress address,
                                             HttpServerLimits limits, HttpHandler handler,
                                             HttpConnectionCounters counters) {
  DeferringHttpHandler answers_now = [handler = std::move(handler)](HttpRequest& request,
                                                                    const HttpResponder&) {
    return std::optional<HttpResponse>(handler(request));
  };
  return make_http_server(io, std::move(name), std::move(address), std::move(limits), std::move(answers_now),
                          counters);
}

}  // namespace spanline::agent
