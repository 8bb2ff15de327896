#pragma once
// One HTTP/1.1 keep-alive connection to the API host, plain TCP or TLS.
//
// A connection runs one exchange at a time: async_request() connects if needed
// (resolve, connect, TLS handshake with SNI and peer plus host name verification),
// writes the request, reads the answer and calls `done` exactly once, on the
// connection's executor. Every step runs under a deadline (connect_timeout for
// resolve/connect/handshake, request_timeout for write and for read). A reused
// connection that the server had already closed is reconnected once, silently.
//
// Not thread-safe: use it from the executor it was created with. Handlers keep
// the connection alive (shared_from_this), so it may be dropped while busy.

#include "transport/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace spanline::detail {

struct HttpRequest {
  enum class Method { get, post };
  Method method = Method::post;
  std::string target;                                        // "/v1/project_logs/<id>/insert"
  std::vector<std::pair<std::string, std::string>> headers;  // Host and Content-Length are added
  std::string body;
};

struct HttpResult {
  boost::system::error_code ec;  // set when the exchange failed below HTTP (status is then 0)
  std::string_view step;         // where it failed: "resolve", "connect", "handshake", "write", "read"
  int status = 0;
  std::string body;         // the answer's body (bounded by Settings::max_response_bytes)
  std::string retry_after;  // the Retry-After header, when present
  HttpRequest request;      // handed back with its body intact, so it can be resent
};

struct HttpSettings {
  BaseUrl url;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::size_t max_response_bytes = std::size_t{16} << 20;
};

// A client TLS context: the system trust store, plus `ca_file` (PEM) when not empty,
// and peer verification unless `verify` is false. Throws std::invalid_argument when
// `ca_file` cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& ca_file, bool verify);

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  using Callback = std::function<void(HttpResult)>;

  // `tls` is null for http; it must be set for https.
  HttpConnection(boost::asio::any_io_executor executor, std::shared_ptr<const HttpSettings> settings,
                 std::shared_ptr<boost::asio::ssl::context> tls, bool verify_peer);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Starts one exchange; must not be called while another is running.
  void async_request(HttpRequest request, Callback done);
  // Cancels the running exchange (its callback gets operation_aborted) and closes the socket.
  void close() noexcept;
  // Connected and idle: the next request goes out without a new handshake.
  bool is_open() const noexcept;
  bool busy() const noexcept { return static_cast<bool>(done_); }

 private:
  struct Streams;

  void connect();
  void on_connect(boost::system::error_code ec);
  void on_handshake(boost::system::error_code ec);
  void write();
  void on_write(boost::system::error_code ec);
  void on_read(boost::system::error_code ec);
  void fail(boost::system::error_code ec, std::string_view step);
  void finish(HttpResult result);
  bool retry_stale(boost::system::error_code ec);
  bool is_open_socket() const noexcept;
  void reset_streams() noexcept;

  std::shared_ptr<const HttpSettings> settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  bool verify_peer_;
  std::unique_ptr<Streams> streams_;
  bool connected_ = false;
  bool reused_ = false;       // this exchange started on an already open connection
  bool stale_retry_ = false;  // the one silent reconnect has been used
  HttpRequest request_;  // method/target/headers of the running exchange (body lives in the Beast message)
  Callback done_;
};

}  // namespace spanline::detail
