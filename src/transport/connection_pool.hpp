#pragma once
// Keep-alive connections to the API host, and the headers every request carries.
// The pool follows the in-flight limit: the caller says how many idle connections it
// may keep. io thread only.

#include "codec/codec.hpp"
#include "transport/http_connection.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace spanline::detail {

struct SenderContext;

class ConnectionPool {
 public:
  // Throws std::invalid_argument when Options::ca_file cannot be loaded.
  explicit ConnectionPool(const SenderContext& context);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // An idle open connection, or a new one (it connects on its first request).
  std::shared_ptr<HttpConnection> acquire();
  // Keeps `connection` for reuse if it is open and fewer than `keep_at_most` are idle;
  // closes it otherwise.
  void release(std::shared_ptr<HttpConnection> connection, std::size_t keep_at_most);
  // A connection for a request of the sender's own, remembered under `id` so that
  // close_all() can end it; reclaim() takes it back when the answer comes (null once
  // close_all() ran).
  std::shared_ptr<HttpConnection> lend(std::uint64_t id);
  std::shared_ptr<HttpConnection> reclaim(std::uint64_t id);
  // Closes idle and lent connections. A lent connection's pending callback holds the
  // sender; dropping it here breaks that cycle once the io loop will not run again.
  void close_all() noexcept;

  // Authorization, User-Agent, Accept (and the impersonation header) on every request;
  // Content-Type for a POST, Content-Encoding unless `compression` is none.
  HttpRequest make_request(HttpRequest::Method method, std::string target, std::string body,
                           Compression compression) const;

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<const HttpSettings> settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // null for http
  bool tls_verify_;
  std::vector<std::pair<std::string, std::string>> base_headers_;
  std::vector<std::shared_ptr<HttpConnection>> idle_;
  std::unordered_map<std::uint64_t, std::shared_ptr<HttpConnection>> lent_;
};

}  // namespace spanline::detail
