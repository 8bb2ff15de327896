#include "faults.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace spanline::fakeapi::detail {
namespace {

void check_ratio(double value, const char* name) {
  if (!(value >= 0.0 && value <= 1.0)) {
    throw std::invalid_argument(std::string("fake API: ") + name + " must be in [0, 1], got " +
                                std::to_string(value));
  }
}

// mt19937_64's output is fixed by the standard, unlike the distributions, so this
// keeps sequences identical across standard libraries.
double unit_interval(std::mt19937_64& prng) {
  return static_cast<double>(prng() >> 11) * 0x1.0p-53;
}

}  // namespace

void validate(const FaultConfig& config) {
  check_ratio(config.fail_429, "fail_429");
  check_ratio(config.fail_5xx, "fail_5xx");
  check_ratio(config.reset, "reset");
  if (config.retry_after_s < 0) {
    throw std::invalid_argument("fake API: retry_after_s must be >= 0, got " +
                                std::to_string(config.retry_after_s));
  }
  if (config.latency_ms < 0) {
    throw std::invalid_argument("fake API: latency_ms must be >= 0, got " +
                                std::to_string(config.latency_ms));
  }
  if (!std::isfinite(config.outage_start_s) || !(config.outage_duration_s >= 0) ||
      !std::isfinite(config.outage_duration_s)) {
    throw std::invalid_argument(
        "fake API: outage_start_s must be finite and outage_duration_s finite and >= 0");
  }
}

FaultPlan::FaultPlan(FaultConfig config)
    : config_(config), prng_(config.seed), applied_at_(std::chrono::steady_clock::now()) {
  validate(config_);
}

void FaultPlan::replace(FaultConfig config) {
  validate(config);
  std::lock_guard lock(mutex_);
  config_ = config;
  prng_.seed(config.seed);
  applied_at_ = std::chrono::steady_clock::now();
}

FaultConfig FaultPlan::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

FaultDecision FaultPlan::decide() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  const double draw = unit_interval(prng_);
  FaultDecision decision;
  decision.delay = std::chrono::milliseconds(config_.latency_ms);

  if (config_.outage_start_s >= 0 && config_.outage_duration_s > 0) {
    const double since = std::chrono::duration<double>(now - applied_at_).count();
    if (since >= config_.outage_start_s && since < config_.outage_start_s + config_.outage_duration_s) {
      decision.action = FaultAction::outage;
      return decision;
    }
  }
  double threshold = config_.reset;
  if (draw < threshold) {
    decision.action = FaultAction::reset;
    return decision;
  }
  threshold += config_.fail_429;
  if (draw < threshold) {
    decision.action = FaultAction::too_many_requests;
    decision.retry_after_s = config_.retry_after_s;
    return decision;
  }
  threshold += config_.fail_5xx;
  if (draw < threshold) decision.action = FaultAction::unavailable;
  return decision;
}

}  // namespace spanline::fakeapi::detail
