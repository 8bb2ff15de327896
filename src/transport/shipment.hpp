#pragma once
// What one request carried, as delivery's outcome handler sees it: a live batch or a
// spool record being replayed (or a part of either). Delivery decides once, for both,
// what an answer means (retry_policy.hpp); each kind says how it is then retried,
// re-encoded, split and settled. io thread only.

#include "codec/codec.hpp"
#include "transport/http_connection.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace spanline::detail {

struct Batch;

// A retriable failure, as the shipment's retry() gets it. The host's 429 pause and the
// failure report are already taken care of.
struct RetryNote {
  bool host_paused;                 // a 429: the whole host waits before any resend
  std::chrono::milliseconds delay;  // this shipment's backoff
  int status;                       // 0: failed below HTTP
  const HttpResult& result;
  const std::string& target;
};

class Shipment {
 public:
  virtual ~Shipment() = default;

  // A spool record: it runs within replay's share of the in-flight limit.
  virtual bool replayed() const noexcept = 0;
  // The body goes into the request; the answer hands it back, intact, for a resend.
  virtual std::string take_body() = 0;
  virtual void give_back_body(std::string body) = 0;
  virtual Compression encoding() const noexcept = 0;
  // The event count to give decide().
  virtual std::size_t events_for_decision() const noexcept = 0;
  // Takes one isolation step from the budget its refused rows share; false when spent.
  virtual bool spend_isolation() = 0;
  // The attempt count its backoff grows with.
  virtual std::uint32_t backoff_attempt() = 0;

  virtual void delivered() = 0;
  virtual void retry(const RetryNote& note) = 0;
  // The host's encoding changed after it refused this one: send again in the new one.
  virtual void reencode() = 0;
  // Sends each half on its own, in order; false when it cannot be split (then rejected).
  virtual bool split() = 0;
  virtual void rejected() = 0;
  // The sender stopped with it on the wire; `drop` settles a live batch (spool or drop).
  virtual void abandoned(const std::function<void(Batch&)>& drop) = 0;
  // Called last, whatever happened: lets go of what it still holds.
  virtual void finished() noexcept {}

  // For the rejection report.
  virtual std::string_view what() const noexcept = 0;  // "" or " to a spool record"
  virtual std::string_view unit() const noexcept = 0;  // "batch" or "record"
  virtual std::uint64_t rows() const noexcept = 0;
  virtual std::string first_row_id() const = 0;  // first_refused_id() of its first event
};

}  // namespace spanline::detail
