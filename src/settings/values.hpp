#pragma once
// The value syntax every setting shares, wherever the value comes from (TOML file,
// environment, flag, set_option): one size parser, one duration parser, one number parser,
// one boolean parser and one rule for environment variable names.
//
// Parsers throw std::invalid_argument whose what() is the reason only ("must be a size ...,
// got '4x'"); the registry adds the setting's name (SettingError) and the daemon the source.

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::settings {

// A bad value of one setting: the setting and the reason apart, so that a caller can say
// where the value came from without taking the message apart. what() reads
// "<setting> <reason>", e.g. "batch.max_bytes must be >= 1 KiB, got 12".
class SettingError : public std::invalid_argument {
 public:
  SettingError(std::string setting, std::string reason);
  const std::string& setting() const noexcept { return setting_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string setting_;
  std::string reason_;
};

// Inclusive bounds of a number, a size (bytes) or a duration (milliseconds).
struct Range {
  std::uint64_t min = 0;
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
};

// A non-negative whole number ("1000").
std::uint64_t parse_count(std::string_view text, Range range = {});

// A whole number that may be negative ("-3").
int parse_integer(std::string_view text, int min, int max);

// Bytes: a whole number with an optional unit B, K/KiB, M/MiB, G/GiB (any case; powers of
// 1024): "65536", "64KiB", "4k", "16MiB". Refuses unknown units and values past 2^64.
std::uint64_t parse_size(std::string_view text, Range range = {});

// Milliseconds: a whole number ("250", read as milliseconds) or one with a unit ms, s, m or
// h ("250ms", "5s", "2m"). Refuses unknown units and values past the range.
std::chrono::milliseconds parse_duration(std::string_view text, Range range_ms = {0, std::uint64_t{1} << 40});

// true/false, also yes/no, on/off, 1/0.
bool parse_bool(std::string_view text);

// A comma-separated list; blanks around items and empty items are dropped.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);

// A size as the shortest exact text the size parser reads back: 67108864 -> "64MiB".
std::string size_text(std::uint64_t bytes);

// The environment variable of a dotted setting name: "queue.max_bytes" ->
// "SPANLINE_QUEUE_MAX_BYTES".
std::string env_name(std::string_view dotted);

}  // namespace spanline::settings
