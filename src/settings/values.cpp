#include "settings/values.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace spanline::settings {

SettingError::SettingError(std::string setting, std::string reason)
    : std::invalid_argument(setting + " " + reason),
      setting_(std::move(setting)),
      reason_(std::move(reason)) {}

namespace {

[[noreturn]] void refuse(std::string_view expected, std::string_view text) {
  throw std::invalid_argument("must be " + std::string(expected) + ", got '" + std::string(text) + "'");
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The leading digits and what follows them.
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  return {text.substr(0, digits), text.substr(digits)};
}

std::uint64_t digits_value(std::string_view digits, std::string_view text, std::string_view expected) {
  std::uint64_t value = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (ec == std::errc::result_out_of_range) refuse(std::string(expected) + " that fits in 64 bits", text);
  if (digits.empty() || ec != std::errc() || ptr != end) refuse(expected, text);
  return value;
}

std::uint64_t scaled(std::uint64_t number, std::uint64_t scale, std::string_view text,
                     std::string_view expected) {
  if (number > std::numeric_limits<std::uint64_t>::max() / scale) {
    refuse(std::string(expected) + " that fits in 64 bits", text);
  }
  return number * scale;
}

void check_range(std::uint64_t value, Range range, std::string_view text, const std::string& what,
                 const std::string& low, const std::string& high) {
  if (value < range.min || value > range.max) refuse(what + " in [" + low + ", " + high + "]", text);
}

}  // namespace

std::uint64_t parse_count(std::string_view text, Range range) {
  const std::uint64_t value = digits_value(text, text, "a non-negative whole number");
  check_range(value, range, text, "a number", std::to_string(range.min), std::to_string(range.max));
  return value;
}

int parse_integer(std::string_view text, int min, int max) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) refuse("a whole number", text);
  if (value < min || value > max) {
    refuse("a whole number in [" + std::to_string(min) + ", " + std::to_string(max) + "]", text);
  }
  return value;
}

std::uint64_t parse_size(std::string_view text, Range range) {
  static constexpr std::string_view kExpected =
      "a size in bytes, optionally with a unit B, K/KiB, M/MiB or G/GiB";
  const auto [digits, unit_text] = split_number(text);
  const std::string unit = lower(unit_text);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kib")
    scale = std::uint64_t{1} << 10;
  else if (unit == "m" || unit == "mib")
    scale = std::uint64_t{1} << 20;
  else if (unit == "g" || unit == "gib")
    scale = std::uint64_t{1} << 30;
  // Named apart from a malformed number: "4kb" is a unit mistake, and the message says so.
  if (scale == 0 && !digits.empty()) {
    refuse(std::string(kExpected) + " (unknown unit '" + std::string(unit_text) + "')", text);
  }
  const std::uint64_t value =
      scaled(digits_value(digits, text, kExpected), scale == 0 ? 1 : scale, text, "a size");
  check_range(value, range, text, "a size", size_text(range.min), size_text(range.max));
  return value;
}

std::chrono::milliseconds parse_duration(std::string_view text, Range range_ms) {
  static constexpr std::string_view kExpected =
      "a duration in milliseconds, optionally with a unit ms, s, m or h";
  const auto [digits, unit_text] = split_number(text);
  const std::string unit = lower(unit_text);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  if (scale == 0 && !digits.empty()) {
    refuse(std::string(kExpected) + " (unknown unit '" + std::string(unit_text) + "')", text);
  }
  const std::uint64_t value =
      scaled(digits_value(digits, text, kExpected), scale == 0 ? 1 : scale, text, "a duration");
  check_range(value, range_ms, text, "a duration", std::to_string(range_ms.min) + " ms",
              std::to_string(range_ms.max) + " ms");
  return std::chrono::milliseconds(static_cast<std::int64_t>(value));
}

bool parse_bool(std::string_view text) {
  const std::string value = lower(text);
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  refuse("true or false", text);
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::string size_text(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, std::string_view> kUnits[] = {
      {std::uint64_t{1} << 30, "GiB"}, {std::uint64_t{1} << 20, "MiB"}, {std::uint64_t{1} << 10, "KiB"}};
  if (bytes == 0) return "0";
  for (const auto& [scale, unit] : kUnits) {
    if (bytes % scale == 0) return std::to_string(bytes / scale) + std::string(unit);
  }
  return std::to_string(bytes);
}

std::string env_name(std::string_view dotted) {
  std::string name = "SPANLINE_";
  for (char c : dotted)
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace spanline::settings
