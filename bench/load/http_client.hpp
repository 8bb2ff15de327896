#pragma once
// A small synchronous HTTP/1.1 keep-alive client (Beast) for the harness: the http
// target posts insert bodies to the sidecar with it, and the stats probe reads
// GET /_fake/stats. One connection per object; not thread-safe. Plain http only.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spanline::load {

struct HttpEndpoint {
  std::string host;
  std::string port;
  std::string path_prefix;  // without a trailing '/'
};
// Parses "http://host:port[/prefix]". Throws std::invalid_argument otherwise.
HttpEndpoint parse_http_url(std::string_view url);

struct HttpResponse {
  int status = 0;  // 0: transport error or timeout (see error)
  std::string body;
  std::string error;
};

class HttpClient {
 public:
  explicit HttpClient(HttpEndpoint endpoint, std::string bearer_token = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is appended to the endpoint's path prefix. Reconnects once when a kept-alive
  // connection turns out to be closed. Never throws.
  HttpResponse request(std::string_view method, std::string_view target, std::string_view body,
                       std::chrono::milliseconds timeout, std::string_view content_type = "application/json");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spanline::load
