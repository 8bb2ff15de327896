#pragma once
// Delivery as the project resolver, the version probe and the replay feeder see it:
// requests on the shared connections, the host's 429 pause, its backoff and encoding.
// io thread only.

#include "codec/codec.hpp"
#include "transport/http_connection.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace spanline::detail {

class Shipment;

class Upstream {
 public:
  using Done = std::function<void(HttpResult)>;
  virtual ~Upstream() = default;

  // A request of the sender's own (project lookup, version probe): a pooled connection,
  // outside the in-flight limit, never compressed. `done` runs on the io thread, and not
  // at all once the sender has stopped.
  virtual void request(HttpRequest::Method method, std::string_view path, std::string body, Done done) = 0;
  // Puts a shipment on the wire now (the caller checked the limit); delivery's outcome
  // handler settles it. `target` is the request target, prefix included.
  virtual void dispatch(std::unique_ptr<Shipment> shipment, std::string target) = 0;
  // Starts whatever can start now.
  virtual void wake() = 0;

  // No request starts before this (a 429).
  virtual std::chrono::steady_clock::time_point paused_until() const noexcept = 0;
  // A 429 outside a shipment: lowers the in-flight limit and pauses the host for `delay`.
  virtual void pause_host(std::chrono::milliseconds delay) = 0;
  // Full-jitter backoff for the `attempt`th retry (retry_policy.hpp).
  virtual std::chrono::milliseconds backoff(std::uint32_t attempt) = 0;
  // What the host takes now (after any 415 fallback). Any thread.
  virtual Compression encoding() const noexcept = 0;
};

}  // namespace spanline::detail
