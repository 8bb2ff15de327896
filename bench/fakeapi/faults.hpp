#pragma once
// Deterministic fault injection: one seeded PRNG draw per faultable request, in
// the order requests arrive, so the same seed and the same request order give the
// same sequence of answers.

#include "fake_api.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>

namespace spanline::fakeapi::detail {

enum class FaultAction { none, reset, too_many_requests, unavailable, outage };

struct FaultDecision {
  FaultAction action = FaultAction::none;
  int retry_after_s = 0;             // for too_many_requests
  std::chrono::milliseconds delay{0};  // before answering (or resetting)
};

// Throws std::invalid_argument naming the field when a value is out of range.
void validate(const FaultConfig& config);

// Thread-safe.
class FaultPlan {
 public:
  explicit FaultPlan(FaultConfig config);  // the outage window counts from now

  // Replaces the config and reseeds; the outage window counts from now.
  void replace(FaultConfig config);
  FaultConfig config() const;

  // The next request's fate. Always consumes exactly one draw, so an outage or a
  // config without faults does not shift the sequence for later requests.
  FaultDecision decide();

 private:
  mutable std::mutex mutex_;
  FaultConfig config_;
  std::mt19937_64 prng_;
  std::chrono::steady_clock::time_point applied_at_;
};

}  // namespace spanline::fakeapi::detail
