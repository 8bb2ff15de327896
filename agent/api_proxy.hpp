#pragma once
// The HTTP ingest's reverse proxy: every request the ingest does not serve itself (prompts,
// functions, BTQL, xact-id, attachments, fetch, ...) is forwarded to the upstream api.url, so
// an official SDK pointed at the sidecar (BRAINTRUST_API_URL) keeps working for more than
// logging.
//
// Forwarded: method, target (path and query, under api.url's path prefix), body and headers,
// the caller's Authorization included (the upstream authenticates the caller, not spanlined).
// Hop-by-hop headers (RFC 9110 §7.6.1: Connection and the headers it names, Keep-Alive,
// Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) are not
// forwarded in either direction; Host is the upstream's.
//
// The answer streams: its head is passed on as soon as it arrives, then its body piece by piece
// as the caller's connection takes it (at most 64 KiB held per exchange, plus up to 128 KiB of
// unparsed upstream bytes), so server-sent events arrive as they are sent and a slow caller
// slows the upstream instead of filling memory. A body with Content-Length keeps it; any other
// is re-framed chunked for the caller (HTTP/1.0: closed at its end). One upstream connection per
// request, no pooling.
//
// Failures before the upstream's head answer JSON: 502 {"error":{"reason":"bad_gateway"|
// "response_too_large"}} when the upstream cannot be reached, answers badly or announces a body
// larger than proxy.max_response_bytes; 504 {"error":{"reason":"gateway_timeout"}} when its head
// does not arrive within proxy.timeout_ms. After the head, the caller's connection is cut (a
// truncated body must not pass for a whole one) when the upstream is silent for
// proxy.timeout_ms, its body outgrows proxy.max_response_bytes, or it fails. Each request is
// counted by route class and outcome (spanline_proxy_requests_total; outcome cut_off for those).
// The request's headers (the caller's key among them) are never logged.
//
// Thread safety: forward() may be called from every I/O thread at once.

#include "http_server.hpp"
#include "ingest_counters.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace spanline::agent {

struct ProxySettings {
  std::string upstream_url;  // api.url
  // Longest wait for the upstream's head, and then for each piece of its body.
  std::chrono::milliseconds timeout{60'000};
  // Largest body relayed (memory does not depend on it: the body is never held whole).
  std::size_t max_response_bytes = std::size_t{64} << 20;
  std::string ca_file;  // api.ca_file / tls_verify, as the sender uses them
  bool tls_verify = true;
};

// The route class a request is counted under: prompt, function, btql, xact_id, attachment,
// fetch or other.
std::string_view proxy_route_class(std::string_view target);

class ApiProxy {
 public:
  // Throws std::invalid_argument for an unusable upstream URL or CA file.
  ApiProxy(ProxySettings settings, IngestCounters& counters);
  ~ApiProxy();
  ApiProxy(const ApiProxy&) = delete;
  ApiProxy& operator=(const ApiProxy&) = delete;

  // Forwards `request` and answers through `responder` (always later, never now).
  void forward(HttpRequest request, const HttpResponder& responder);

  struct Impl;  // shared with the exchanges in flight (api_proxy.cpp)

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace spanline::agent
