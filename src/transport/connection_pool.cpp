#include "transport/connection_pool.hpp"

#include "transport/sender_context.hpp"

#include <boost/asio/io_context.hpp>

namespace spanline::detail {

namespace {
constexpr std::string_view kUserAgent = "spanline/0.1";
}  // namespace

ConnectionPool::ConnectionPool(const SenderContext& context)
    : io_(context.io), tls_verify_(context.options.tls_verify) {
  const Options& options = context.options;
  auto settings = std::make_shared<HttpSettings>();
  settings->url = context.url;
  settings->connect_timeout = options.connect_timeout;
  settings->request_timeout = options.request_timeout;
  settings_ = std::move(settings);
  if (context.url.tls) tls_ = make_tls_context(options.ca_file, options.tls_verify);

  if (!options.api_key.empty()) base_headers_.emplace_back("Authorization", "Bearer " + options.api_key);
  base_headers_.emplace_back("User-Agent", std::string(kUserAgent));
  base_headers_.emplace_back("Accept", "application/json");
  if (!options.impersonate_user.empty())
    base_headers_.emplace_back("x-bt-impersonate-user", options.impersonate_user);
}

std::shared_ptr<HttpConnection> ConnectionPool::acquire() {
  while (!idle_.empty()) {
    auto connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->is_open()) return connection;
  }
  return std::make_shared<HttpConnection>(io_.get_executor(), settings_, tls_, tls_verify_);
}

void ConnectionPool::release(std::shared_ptr<HttpConnection> connection, std::size_t keep_at_most) {
  if (!connection) return;
  if (connection->is_open() && idle_.size() < keep_at_most) {
    idle_.push_back(std::move(connection));
  } else {
    connection->close();
  }
}

std::shared_ptr<HttpConnection> ConnectionPool::lend(std::uint64_t id) {
  auto connection = acquire();
  lent_.emplace(id, connection);
  return connection;
}

std::shared_ptr<HttpConnection> ConnectionPool::reclaim(std::uint64_t id) {
  auto node = lent_.extract(id);
  if (node.empty()) return nullptr;
  return std::move(node.mapped());
}

void ConnectionPool::close_all() noexcept {
  for (auto& [id, connection] : lent_) connection->close();
  lent_.clear();
  for (auto& connection : idle_) connection->close();
  idle_.clear();
}

HttpRequest ConnectionPool::make_request(HttpRequest::Method method, std::string target, std::string body,
                                         Compression compression) const {
  HttpRequest request;
  request.method = method;
  request.target = std::move(target);
  request.headers = base_headers_;
  if (method == HttpRequest::Method::post) request.headers.emplace_back("Content-Type", "application/json");
  if (compression != Compression::none) {
    request.headers.emplace_back("Content-Encoding", std::string(content_encoding(compression)));
  }
  request.body = std::move(body);
  return request;
}

}  // namespace spanline::detail
