#pragma once
// GET /version once at start: the host's payload limit (logs3_payload_max_bytes).
// Failure is quiet on purpose: the 6 MiB default is what the official SDKs assume too.

#include "transport/anchored.hpp"

#include <atomic>
#include <cstddef>
#include <functional>

namespace spanline::detail {

class Upstream;
struct HttpResult;
struct SenderContext;

// Used when neither Options::max_payload_bytes nor GET /version gives a limit.
inline constexpr std::size_t kDefaultPayloadLimit = std::size_t{6} << 20;

class VersionProbe : public Anchored<VersionProbe> {
 public:
  // `on_answered` runs on the io thread once the probe has answered or failed.
  VersionProbe(const SenderContext& context, Upstream& upstream, std::function<void()> on_answered);

  void start();  // io thread
  // Options::max_payload_bytes if set, else what GET /version reported, else 6 MiB. Any thread.
  std::size_t payload_limit() const noexcept;
  // The limit is known: set in the options, or the probe answered (or failed). Any thread.
  bool limit_known() const noexcept;

 private:
  void on_version(HttpResult result);
  // logs3_payload_max_bytes from a successful answer; 0 when it has none usable.
  static std::size_t limit_from(const HttpResult& result);

  const SenderContext& context_;
  Upstream& upstream_;
  std::function<void()> on_answered_;
  std::atomic<bool> answered_{false};
  std::atomic<std::size_t> learned_limit_{kDefaultPayloadLimit};
};

}  // namespace spanline::detail
