#pragma once
// The fake API's network side: an acceptor and HTTP/1.1 keep-alive sessions
// (plain TCP or TLS) running on `threads` io threads, each session on its own
// strand. Request handling and counting live in Service.

#include "fake_api.hpp"
#include "service.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace spanline::fakeapi::detail {

class Listener;

class Server {
 public:
  // Loads TLS files and binds; throws std::system_error naming what failed.
  // Nothing runs until start().
  Server(const ServerConfig& config, std::shared_ptr<Service> service);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start(unsigned threads);
  // Idempotent. Stops the io threads, then closes the listener and every
  // connection. Must not be called from an io thread.
  void stop();

  std::uint16_t port() const { return port_; }
  bool tls() const { return ssl_.has_value(); }

 private:
  std::optional<boost::asio::ssl::context> ssl_;  // outlives the io_context's sessions
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

}  // namespace spanline::fakeapi::detail
