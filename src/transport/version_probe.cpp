#include "transport/version_probe.hpp"

#include "metrics/counters.hpp"
#include "transport/sender_context.hpp"
#include "transport/upstream.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdint>

namespace spanline::detail {

VersionProbe::VersionProbe(const SenderContext& context, Upstream& upstream,
                           std::function<void()> on_answered)
    : context_(context), upstream_(upstream), on_answered_(std::move(on_answered)) {}

void VersionProbe::start() {
  upstream_.request(HttpRequest::Method::get, "/version", {},
                    [self = self()](HttpResult result) { self->on_version(std::move(result)); });
}

std::size_t VersionProbe::payload_limit() const noexcept {
  if (context_.options.max_payload_bytes != 0) return context_.options.max_payload_bytes;
  return learned_limit_.load(std::memory_order_relaxed);
}

bool VersionProbe::limit_known() const noexcept {
  return answered_.load(std::memory_order_acquire) || context_.options.max_payload_bytes != 0;
}

void VersionProbe::on_version(HttpResult result) {
  if (!result.ec) context_.counters.count_request(result.status);
  if (const std::size_t learned = limit_from(result); learned != 0)
    learned_limit_.store(learned, std::memory_order_relaxed);
  // After the limit: whoever sees the probe answered sees the limit it learned.
  answered_.store(true, std::memory_order_release);
  on_answered_();
}

std::size_t VersionProbe::limit_from(const HttpResult& result) {
  if (result.ec || result.status < 200 || result.status > 299) return 0;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(result.body, ec);
  if (ec || !value.is_object()) return 0;
  const auto* max = value.as_object().if_contains("logs3_payload_max_bytes");
  if (max == nullptr) return 0;
  std::int64_t bytes = 0;
  if (max->is_int64()) bytes = max->as_int64();
  if (max->is_uint64())
    bytes = static_cast<std::int64_t>(std::min<std::uint64_t>(max->as_uint64(), INT64_MAX));
  if (max->is_double()) bytes = static_cast<std::int64_t>(max->as_double());
  return bytes > 1024 ? static_cast<std::size_t>(bytes) : 0;
}

}  // namespace spanline::detail
