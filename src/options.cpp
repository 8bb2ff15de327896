// The Options API over the settings registry (settings/library_settings.cpp), which holds
// each setting's name, parser and printer; validate() checks what a struct built in code
// may get wrong.

#include <spanline/options.hpp>

#include "settings/library_settings.hpp"
#include "transport/url.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace spanline {
namespace {

using settings::SettingError;

void require(bool ok, std::string setting, std::string reason) {
  if (!ok) throw SettingError(std::move(setting), std::move(reason));
}

}  // namespace

std::string_view to_string(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::block:
      return "block";
    case OverflowPolicy::drop_newest:
      return "drop_newest";
    case OverflowPolicy::drop_oldest:
      return "drop_oldest";
    case OverflowPolicy::spill:
      return "spill";
  }
  return "unknown";
}

std::string_view to_string(SpoolFullPolicy policy) {
  return policy == SpoolFullPolicy::block ? "block" : "drop_newest";
}

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::zstd:
      return "zstd";
    case Compression::gzip:
      return "gzip";
    case Compression::none:
      return "none";
  }
  return "unknown";
}

std::string_view to_string(IdFormat format) { return format == IdFormat::uuid ? "uuid" : "otel_hex"; }

void set_option(Options& options, std::string_view name, std::string_view value) {
  const auto& registry = settings::library_settings();
  if (registry.find(name) == nullptr)
    throw std::invalid_argument("unknown setting '" + std::string(name) + "'");
  registry.set(options, name, value);
}

const std::vector<std::string_view>& option_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& setting : settings::library_settings().entries()) out.push_back(setting.info.name);
    return out;
  }();
  return names;
}

std::vector<std::pair<std::string, std::string>> describe(const Options& options) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& setting : settings::library_settings().entries()) {
    out.emplace_back(setting.info.name, settings::shown_value(setting.info, setting.print(options)));
  }
  return out;
}

void validate(const Options& o) {
  const auto got = [](auto value) { return ", got " + std::to_string(value); };
  // Checked first, and the URL never shown: the password would end up in logs.
  require(!detail::url_has_credentials(o.api_url), "api.url",
          "must not hold credentials (user:password@host); the API key goes in api.key");
  require(o.api_url.rfind("http://", 0) == 0 || o.api_url.rfind("https://", 0) == 0, "api.url",
          "must start with http:// or https://, got '" + detail::redact_url(o.api_url) + "'");
  require(o.max_queue_bytes >= (std::size_t{64} << 10), "queue.max_bytes",
          "must be >= 64 KiB" + got(o.max_queue_bytes));
  require(o.max_queue_rows >= 1, "queue.max_rows", "must be >= 1" + got(o.max_queue_rows));
  require(o.batch_max_bytes >= 1024, "batch.max_bytes", "must be >= 1 KiB" + got(o.batch_max_bytes));
  require(o.batch_max_rows >= 1, "batch.max_rows", "must be >= 1" + got(o.batch_max_rows));
  require(o.max_payload_bytes == 0 || o.max_payload_bytes >= 1024, "batch.max_payload_bytes",
          "must be 0 (ask the server) or >= 1 KiB" + got(o.max_payload_bytes));
  require(o.zstd_level >= -7 && o.zstd_level <= 22, "batch.zstd_level",
          "must be in [-7, 22]" + got(o.zstd_level));
  require(o.encode_threads <= 64, "batch.encode_threads", "must be in [0, 64]" + got(o.encode_threads));
  require(o.max_in_flight >= 1 && o.max_in_flight <= 256, "http.max_in_flight",
          "must be in [1, 256]" + got(o.max_in_flight));
  require(o.initial_in_flight >= 1 && o.initial_in_flight <= o.max_in_flight, "http.initial_in_flight",
          "must be in [1, http.max_in_flight]" + got(o.initial_in_flight));
  require(o.connect_timeout.count() > 0, "http.connect_timeout_ms",
          "must be > 0" + got(o.connect_timeout.count()));
  require(o.request_timeout.count() > 0, "http.request_timeout_ms",
          "must be > 0" + got(o.request_timeout.count()));
  require(o.retry_base_delay.count() > 0, "retry.base_delay_ms",
          "must be > 0" + got(o.retry_base_delay.count()));
  require(o.retry_max_delay >= o.retry_base_delay, "retry.max_delay_ms",
          "must be >= retry.base_delay_ms" + got(o.retry_max_delay.count()));
  require(o.spool_segment_bytes >= 4096, "spool.segment_bytes",
          "must be >= 4 KiB" + got(o.spool_segment_bytes));
  require(o.spool_max_bytes >= o.spool_segment_bytes, "spool.max_bytes",
          "must be >= spool.segment_bytes" + got(o.spool_max_bytes));
  require(o.spool_fsync_interval.count() > 0, "spool.fsync_interval_ms",
          "must be > 0" + got(o.spool_fsync_interval.count()));
  require(o.spool_outage_after.count() > 0, "spool.outage_after_ms",
          "must be > 0" + got(o.spool_outage_after.count()));
  require(o.api_key.find_first_of("\r\n") == std::string::npos, "api.key", "must not contain line breaks");
}

Options options_from_env(Options base) {
  const auto& registry = settings::library_settings();
  const settings::EnvLookup env = [](const char* name) -> const char* { return std::getenv(name); };
  for (const settings::SourcedValue& value : settings::read_environment(registry.infos(), env)) {
    try {
      registry.set(base, value.name, value.text);
    } catch (const SettingError& e) {
      // Name the variable, not just the setting, so the user knows where to look; the key
      // itself is never echoed (its parser cannot fail, and validate() does not quote it).
      throw SettingError(e.setting(), e.reason() + " (from " + value.source + ")");
    }
  }
  return base;
}

}  // namespace spanline
