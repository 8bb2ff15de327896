#pragma once
// A small HTTP/1.1 server (Beast) with keep-alive, a body size limit, an idle deadline on
// every read and write, and a connection limit. Used for the HTTP ingest and the admin
// endpoint; what it answers is the handler's business.
//
// The handler runs on the I/O thread that read the request, may be called concurrently for
// different connections, and must not throw (an exception becomes a 500). A handler that
// waits for something (a durable handler waits for an fsync) answers later instead: it
// returns no response and hands the connection's HttpResponder to whatever it waits for, so
// the I/O thread goes on serving other connections meanwhile.

#include "daemon_config.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace spanline::agent {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpHandler = std::function<HttpResponse(HttpRequest&)>;

// A response body written as it arrives instead of whole (the reverse proxy relays an upstream's
// stream with it). The connection pulls: it asks for the next piece only once the previous one
// is written, so a slow client slows the source instead of filling memory. Every call is made
// on the connection's strand, and the source must call back there too.
class StreamedBody {
 public:
  using OnPiece = std::function<void(boost::system::error_code, boost::asio::const_buffer, bool last)>;
  virtual ~StreamedBody() = default;
  // Calls `on_piece` exactly once, later (never from inside next()): with the next bytes (valid
  // until the following next() or cancel(); may be empty) and `last` on the final piece; or
  // with an error, after which the connection is cut, since the head is already written and a
  // truncated body must not pass for a whole one.
  virtual void next(OnPiece on_piece) = 0;
  // The connection no longer wants pieces (its client left, the server is stopping). A pending
  // on_piece may still be called; it is ignored.
  virtual void cancel() noexcept = 0;
};

struct StreamedResponse {
  // Status and headers. With Content-Length the body goes as is; without it the server frames
  // it chunked for an HTTP/1.1 client and closes the connection after it for HTTP/1.0.
  boost::beast::http::response_header<> head;
  std::shared_ptr<StreamedBody> body;
};

// How a handler answers later. The connection reads nothing more until it is answered.
struct HttpResponder {
  // The connection's strand: call `respond` and `respond_streamed` there.
  boost::asio::any_io_executor executor;
  // Writes the answer (at most once; later calls are ignored). Dropping every copy without
  // calling it closes the connection without an answer.
  std::function<void(HttpResponse)> respond;
  // Or: writes the head at once and then the body piece by piece (same at-most-once rule
  // shared with `respond`).
  std::function<void(StreamedResponse)> respond_streamed;
};
// Returns the answer now, or nothing after arranging for `responder.respond` to be called.
using DeferringHttpHandler = std::function<std::optional<HttpResponse>(HttpRequest&, const HttpResponder&)>;

struct HttpServerLimits {
  std::size_t max_body_bytes = std::size_t{1} << 20;
  std::size_t max_connections = 256;
  std::chrono::milliseconds idle_timeout{60'000};
  // The setting behind max_body_bytes, named in the 413 answer (e.g. "ingest.max_body_bytes").
  std::string body_limit_setting;
};

// Connection accounting the server reports to (e.g. the ingest counters); may be null.
struct HttpConnectionCounters {
  std::atomic<std::uint64_t>* active = nullptr;
  std::atomic<std::uint64_t>* total = nullptr;
  std::atomic<std::uint64_t>* refused = nullptr;
  std::atomic<std::uint64_t>* idle_closed = nullptr;  // closed after idle_timeout without a request
  // Answers the server writes itself, without the handler (413 body too large, 400 malformed).
  std::function<void(unsigned status)> server_answered;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds and starts accepting; throws std::system_error naming `name` and the address.
  virtual void start() = 0;
  // Stops accepting and closes every connection; safe from any thread, more than once.
  virtual void stop() = 0;
  virtual std::uint16_t port() const = 0;
  // "http://127.0.0.1:PORT"
  virtual std::string url() const = 0;
};

std::shared_ptr<HttpServer> make_http_server(boost::asio::io_context& io, std::string name,
                                             ListenAddress address, HttpServerLimits limits,
                                             HttpHandler handler, HttpConnectionCounters counters = {});
// The same with a handler that may answer later. stop() lets a connection waiting for its
// deferred answer write it (then close) instead of cutting it off.
std::shared_ptr<HttpServer> make_http_server(boost::asio::io_context& io, std::string name,
                                             ListenAddress address, HttpServerLimits limits,
                                             DeferringHttpHandler handler,
                                             HttpConnectionCounters counters = {});

// A response with `status`, a body and its content type, matching `request`'s version and keep-alive.
HttpResponse make_response(const HttpRequest& request, unsigned status, std::string body,
                           std::string_view content_type = "application/json");

}  // namespace spanline::agent
