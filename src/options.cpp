#include <spanline/options.hpp>

#include "transport/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

namespace spanline {
namespace {

[[noreturn]] void bad_value(std::string_view name, std::string_view value, std::string_view expected) {
  throw std::invalid_argument(std::string(name) + " must be " + std::string(expected) + ", got '" +
                              std::string(value) + "'");
}

std::uint64_t parse_unsigned(std::string_view name, std::string_view text) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) bad_value(name, text, "a non-negative whole number");
  return value;
}

// Accepts plain numbers and the suffixes KiB, MiB, GiB (also K, M, G): sizes read better that way in configs.
std::uint64_t parse_size(std::string_view name, std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string_view suffix = text.substr(digits);
  std::uint64_t scale = 1;
  if (suffix.empty() || suffix == "B") scale = 1;
  else if (suffix == "K" || suffix == "KiB" || suffix == "k") scale = std::uint64_t{1} << 10;
  else if (suffix == "M" || suffix == "MiB") scale = std::uint64_t{1} << 20;
  else if (suffix == "G" || suffix == "GiB") scale = std::uint64_t{1} << 30;
  else bad_value(name, text, "a size in bytes (optionally with KiB, MiB or GiB)");
  if (digits == 0) bad_value(name, text, "a size in bytes (optionally with KiB, MiB or GiB)");
  const std::uint64_t number = parse_unsigned(name, text.substr(0, digits));
  if (number > std::numeric_limits<std::uint64_t>::max() / scale) bad_value(name, text, "a size that fits in 64 bits");
  return number * scale;
}

bool parse_bool(std::string_view name, std::string_view text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  bad_value(name, text, "true or false");
}

std::chrono::milliseconds parse_millis(std::string_view name, std::string_view text) {
  const std::uint64_t value = parse_unsigned(name, text);
  if (value > std::uint64_t{1} << 40) bad_value(name, text, "a duration in milliseconds below 2^40");
  return std::chrono::milliseconds(static_cast<std::int64_t>(value));
}

int parse_int(std::string_view name, std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) bad_value(name, text, "a whole number");
  return value;
}

struct Setting {
  std::string_view name;
  std::function<void(Options&, std::string_view)> set;
  std::function<std::string(const Options&)> get;
};

std::string millis_text(std::chrono::milliseconds value) { return std::to_string(value.count()); }

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {"api.key", [](Options& o, std::string_view v) { o.api_key = v; },
       [](const Options& o) { return std::string(o.api_key.empty() ? "" : "<redacted>"); }},
      {"api.url", [](Options& o, std::string_view v) { o.api_url = v; }, [](const Options& o) { return o.api_url; }},
      {"api.org_name", [](Options& o, std::string_view v) { o.org_name = v; },
       [](const Options& o) { return o.org_name; }},
      {"api.impersonate_user", [](Options& o, std::string_view v) { o.impersonate_user = v; },
       [](const Options& o) { return o.impersonate_user; }},
      {"queue.max_bytes", [](Options& o, std::string_view v) { o.max_queue_bytes = parse_size("queue.max_bytes", v); },
       [](const Options& o) { return std::to_string(o.max_queue_bytes); }},
      {"queue.max_rows", [](Options& o, std::string_view v) { o.max_queue_rows = parse_unsigned("queue.max_rows", v); },
       [](const Options& o) { return std::to_string(o.max_queue_rows); }},
      {"queue.overflow",
       [](Options& o, std::string_view v) {
         if (v == "block") o.overflow = OverflowPolicy::block;
         else if (v == "drop_newest") o.overflow = OverflowPolicy::drop_newest;
         else if (v == "drop_oldest") o.overflow = OverflowPolicy::drop_oldest;
         else if (v == "spill") o.overflow = OverflowPolicy::spill;
         else bad_value("queue.overflow", v, "one of block, drop_newest, drop_oldest, spill");
       },
       [](const Options& o) { return std::string(to_string(o.overflow)); }},
      {"queue.block_timeout_ms",
       [](Options& o, std::string_view v) { o.block_timeout = parse_millis("queue.block_timeout_ms", v); },
       [](const Options& o) { return millis_text(o.block_timeout); }},
      {"batch.max_bytes", [](Options& o, std::string_view v) { o.batch_max_bytes = parse_size("batch.max_bytes", v); },
       [](const Options& o) { return std::to_string(o.batch_max_bytes); }},
      {"batch.max_rows", [](Options& o, std::string_view v) { o.batch_max_rows = parse_unsigned("batch.max_rows", v); },
       [](const Options& o) { return std::to_string(o.batch_max_rows); }},
      {"batch.linger_ms", [](Options& o, std::string_view v) { o.linger = parse_millis("batch.linger_ms", v); },
       [](const Options& o) { return millis_text(o.linger); }},
      {"batch.compression",
       [](Options& o, std::string_view v) {
         if (v == "zstd") o.compression = Compression::zstd;
         else if (v == "gzip") o.compression = Compression::gzip;
         else if (v == "none") o.compression = Compression::none;
         else bad_value("batch.compression", v, "one of zstd, gzip, none");
       },
       [](const Options& o) { return std::string(to_string(o.compression)); }},
      {"batch.zstd_level", [](Options& o, std::string_view v) { o.zstd_level = parse_int("batch.zstd_level", v); },
       [](const Options& o) { return std::to_string(o.zstd_level); }},
      {"batch.encode_threads",
       [](Options& o, std::string_view v) { o.encode_threads = parse_unsigned("batch.encode_threads", v); },
       [](const Options& o) { return std::to_string(o.encode_threads); }},
      {"batch.max_payload_bytes",
       [](Options& o, std::string_view v) { o.max_payload_bytes = parse_size("batch.max_payload_bytes", v); },
       [](const Options& o) { return std::to_string(o.max_payload_bytes); }},
      {"http.max_in_flight",
       [](Options& o, std::string_view v) { o.max_in_flight = parse_unsigned("http.max_in_flight", v); },
       [](const Options& o) { return std::to_string(o.max_in_flight); }},
      {"http.initial_in_flight",
       [](Options& o, std::string_view v) { o.initial_in_flight = parse_unsigned("http.initial_in_flight", v); },
       [](const Options& o) { return std::to_string(o.initial_in_flight); }},
      {"http.connect_timeout_ms",
       [](Options& o, std::string_view v) { o.connect_timeout = parse_millis("http.connect_timeout_ms", v); },
       [](const Options& o) { return millis_text(o.connect_timeout); }},
      {"http.request_timeout_ms",
       [](Options& o, std::string_view v) { o.request_timeout = parse_millis("http.request_timeout_ms", v); },
       [](const Options& o) { return millis_text(o.request_timeout); }},
      {"http.ca_file", [](Options& o, std::string_view v) { o.ca_file = v; }, [](const Options& o) { return o.ca_file; }},
      {"http.tls_verify", [](Options& o, std::string_view v) { o.tls_verify = parse_bool("http.tls_verify", v); },
       [](const Options& o) { return std::string(o.tls_verify ? "true" : "false"); }},
      {"retry.base_delay_ms",
       [](Options& o, std::string_view v) { o.retry_base_delay = parse_millis("retry.base_delay_ms", v); },
       [](const Options& o) { return millis_text(o.retry_base_delay); }},
      {"retry.max_delay_ms",
       [](Options& o, std::string_view v) { o.retry_max_delay = parse_millis("retry.max_delay_ms", v); },
       [](const Options& o) { return millis_text(o.retry_max_delay); }},
      {"retry.max_attempts",
       [](Options& o, std::string_view v) { o.max_retry_attempts = parse_unsigned("retry.max_attempts", v); },
       [](const Options& o) { return std::to_string(o.max_retry_attempts); }},
      {"ids.format",
       [](Options& o, std::string_view v) {
         if (v == "uuid") o.id_format = IdFormat::uuid;
         else if (v == "otel_hex") o.id_format = IdFormat::otel_hex;
         else bad_value("ids.format", v, "one of uuid, otel_hex");
       },
       [](const Options& o) { return std::string(to_string(o.id_format)); }},
      {"spool.dir", [](Options& o, std::string_view v) { o.spool_dir = v; },
       [](const Options& o) { return o.spool_dir; }},
      {"spool.max_bytes", [](Options& o, std::string_view v) { o.spool_max_bytes = parse_size("spool.max_bytes", v); },
       [](const Options& o) { return std::to_string(o.spool_max_bytes); }},
      {"spool.segment_bytes",
       [](Options& o, std::string_view v) { o.spool_segment_bytes = parse_size("spool.segment_bytes", v); },
       [](const Options& o) { return std::to_string(o.spool_segment_bytes); }},
      {"spool.fsync_interval_ms",
       [](Options& o, std::string_view v) { o.spool_fsync_interval = parse_millis("spool.fsync_interval_ms", v); },
       [](const Options& o) { return millis_text(o.spool_fsync_interval); }},
      {"spool.full_policy",
       [](Options& o, std::string_view v) {
         if (v == "drop_newest") o.spool_full_policy = SpoolFullPolicy::drop_newest;
         else if (v == "block") o.spool_full_policy = SpoolFullPolicy::block;
         else bad_value("spool.full_policy", v, "one of drop_newest, block");
       },
       [](const Options& o) { return std::string(to_string(o.spool_full_policy)); }},
      {"spool.outage_after_ms",
       [](Options& o, std::string_view v) { o.spool_outage_after = parse_millis("spool.outage_after_ms", v); },
       [](const Options& o) { return millis_text(o.spool_outage_after); }},
      {"shutdown.timeout_ms",
       [](Options& o, std::string_view v) { o.shutdown_timeout = parse_millis("shutdown.timeout_ms", v); },
       [](const Options& o) { return millis_text(o.shutdown_timeout); }},
  };
  return table;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

std::string env_name(std::string_view dotted) {
  std::string name = "SPANLINE_";
  for (char c : dotted) name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

std::string_view to_string(OverflowPolicy policy) {
  switch (policy) {
    case OverflowPolicy::block: return "block";
    case OverflowPolicy::drop_newest: return "drop_newest";
    case OverflowPolicy::drop_oldest: return "drop_oldest";
    case OverflowPolicy::spill: return "spill";
  }
  return "unknown";
}

std::string_view to_string(SpoolFullPolicy policy) {
  return policy == SpoolFullPolicy::block ? "block" : "drop_newest";
}

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::zstd: return "zstd";
    case Compression::gzip: return "gzip";
    case Compression::none: return "none";
  }
  return "unknown";
}

std::string_view to_string(IdFormat format) {
  return format == IdFormat::uuid ? "uuid" : "otel_hex";
}

void set_option(Options& options, std::string_view name, std::string_view value) {
  for (const Setting& setting : settings()) {
    if (setting.name == name) {
      setting.set(options, value);
      return;
    }
  }
  throw std::invalid_argument("unknown setting '" + std::string(name) + "'");
}

const std::vector<std::string_view>& option_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const Setting& setting : settings()) out.push_back(setting.name);
    return out;
  }();
  return names;
}

std::vector<std::pair<std::string, std::string>> describe(const Options& options) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Setting& setting : settings()) out.emplace_back(std::string(setting.name), setting.get(options));
  return out;
}

void validate(const Options& o) {
  const auto got = [](auto value) { return ", got " + std::to_string(value); };
  // Checked first, and the URL never shown: the password would end up in logs.
  require(!detail::url_has_credentials(o.api_url),
          "api.url must not hold credentials (user:password@host); the API key goes in api.key");
  require(o.api_url.rfind("http://", 0) == 0 || o.api_url.rfind("https://", 0) == 0,
          "api.url must start with http:// or https://, got '" + detail::redact_url(o.api_url) + "'");
  require(o.max_queue_bytes >= (std::size_t{64} << 10), "queue.max_bytes must be >= 64 KiB" + got(o.max_queue_bytes));
  require(o.max_queue_rows >= 1, "queue.max_rows must be >= 1" + got(o.max_queue_rows));
  require(o.batch_max_bytes >= 1024, "batch.max_bytes must be >= 1 KiB" + got(o.batch_max_bytes));
  require(o.batch_max_rows >= 1, "batch.max_rows must be >= 1" + got(o.batch_max_rows));
  require(o.max_payload_bytes == 0 || o.max_payload_bytes >= 1024,
          "batch.max_payload_bytes must be 0 (ask the server) or >= 1 KiB" + got(o.max_payload_bytes));
  require(o.zstd_level >= -7 && o.zstd_level <= 22, "batch.zstd_level must be in [-7, 22]" + got(o.zstd_level));
  require(o.encode_threads <= 64, "batch.encode_threads must be in [0, 64]" + got(o.encode_threads));
  require(o.max_in_flight >= 1 && o.max_in_flight <= 256,
          "http.max_in_flight must be in [1, 256]" + got(o.max_in_flight));
  require(o.initial_in_flight >= 1 && o.initial_in_flight <= o.max_in_flight,
          "http.initial_in_flight must be in [1, http.max_in_flight]" + got(o.initial_in_flight));
  require(o.connect_timeout.count() > 0, "http.connect_timeout_ms must be > 0" + got(o.connect_timeout.count()));
  require(o.request_timeout.count() > 0, "http.request_timeout_ms must be > 0" + got(o.request_timeout.count()));
  require(o.retry_base_delay.count() > 0, "retry.base_delay_ms must be > 0" + got(o.retry_base_delay.count()));
  require(o.retry_max_delay >= o.retry_base_delay,
          "retry.max_delay_ms must be >= retry.base_delay_ms" + got(o.retry_max_delay.count()));
  require(o.spool_segment_bytes >= 4096, "spool.segment_bytes must be >= 4 KiB" + got(o.spool_segment_bytes));
  require(o.spool_max_bytes >= o.spool_segment_bytes,
          "spool.max_bytes must be >= spool.segment_bytes" + got(o.spool_max_bytes));
  require(o.spool_fsync_interval.count() > 0,
          "spool.fsync_interval_ms must be > 0" + got(o.spool_fsync_interval.count()));
  require(o.spool_outage_after.count() > 0, "spool.outage_after_ms must be > 0" + got(o.spool_outage_after.count()));
  require(o.api_key.find_first_of("\r\n") == std::string::npos, "api.key must not contain line breaks");
}

Options options_from_env(Options base) {
  if (const char* key = std::getenv("BRAINTRUST_API_KEY"); key != nullptr && *key != '\0') base.api_key = key;
  if (const char* url = std::getenv("BRAINTRUST_API_URL"); url != nullptr && *url != '\0') base.api_url = url;
  for (std::string_view name : option_names()) {
    const std::string variable = env_name(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    try {
      set_option(base, name, value);
    } catch (const std::invalid_argument& e) {
      // Name the variable, not just the setting, so the user knows where to look.
      throw std::invalid_argument(variable + ": " + e.what());
    }
  }
  return base;
}

}  // namespace spanline
