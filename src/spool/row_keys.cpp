#include "spool/row_keys.hpp"

#include <cstddef>

namespace spanline::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t at) {
  while (at < s.size() && is_space(s[at])) ++at;
  return at;
}

// `at` is on an opening quote; returns the index just past the closing quote, or npos.
std::size_t skip_string(std::string_view s, std::size_t at) {
  for (++at; at < s.size(); ++at) {
    if (s[at] == '\\') {
      ++at;  // whatever follows a backslash cannot close the string
    } else if (s[at] == '"') {
      return at + 1;
    }
  }
  return std::string_view::npos;
}

// Skips one value of any kind; returns the index just past it, or npos when malformed.
std::size_t skip_value(std::string_view s, std::size_t at) {
  if (at >= s.size()) return std::string_view::npos;
  if (s[at] == '"') return skip_string(s, at);
  if (s[at] != '{' && s[at] != '[') {
    // A number, true, false or null: runs to the next delimiter.
    while (at < s.size() && s[at] != ',' && s[at] != '}' && s[at] != ']' && !is_space(s[at])) ++at;
    return at;
  }
  int depth = 0;
  while (at < s.size()) {
    const char c = s[at];
    if (c == '"') {
      at = skip_string(s, at);
      if (at == std::string_view::npos) return at;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth == 0) return at + 1;
    }
    ++at;
  }
  return std::string_view::npos;
}

}  // namespace

RowKey row_key(std::string_view id_text) noexcept {
  // FNV-1a then a final avalanche (splitmix64): cheap, and stable across processes
  // and platforms, unlike std::hash.
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : id_text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

std::optional<std::string_view> find_row_id(std::string_view s) noexcept {
  std::size_t at = skip_space(s, 0);
  if (at >= s.size() || s[at] != '{') return std::nullopt;
  at = skip_space(s, at + 1);
  while (at < s.size() && s[at] == '"') {
    const std::size_t key_end = skip_string(s, at);
    if (key_end == std::string_view::npos) return std::nullopt;
    const std::string_view key = s.substr(at + 1, key_end - at - 2);
    at = skip_space(s, key_end);
    if (at >= s.size() || s[at] != ':') return std::nullopt;
    at = skip_space(s, at + 1);
    if (key == "id") {
      if (at >= s.size() || s[at] != '"') return std::nullopt;
      const std::size_t value_end = skip_string(s, at);
      if (value_end == std::string_view::npos) return std::nullopt;
      return s.substr(at + 1, value_end - at - 2);
    }
    at = skip_value(s, at);
    if (at == std::string_view::npos) return std::nullopt;
    at = skip_space(s, at);
    if (at >= s.size() || s[at] != ',') return std::nullopt;
    at = skip_space(s, at + 1);
  }
  return std::nullopt;
}

bool split_events(std::string_view s, std::vector<std::string_view>& events) {
  events.clear();
  std::size_t at = skip_space(s, 0);
  if (at >= s.size() || s[at] != '{') return false;
  at = skip_space(s, at + 1);
  while (at < s.size() && s[at] == '"') {
    const std::size_t key_end = skip_string(s, at);
    if (key_end == std::string_view::npos) return false;
    const std::string_view key = s.substr(at + 1, key_end - at - 2);
    at = skip_space(s, key_end);
    if (at >= s.size() || s[at] != ':') return false;
    at = skip_space(s, at + 1);
    if (key == "events") {
      if (at >= s.size() || s[at] != '[') return false;
      at = skip_space(s, at + 1);
      if (at < s.size() && s[at] == ']') return true;
      while (at < s.size()) {
        const std::size_t end = skip_value(s, at);
        if (end == std::string_view::npos || end == at) return false;
        events.push_back(s.substr(at, end - at));
        at = skip_space(s, end);
        if (at < s.size() && s[at] == ']') return true;
        if (at >= s.size() || s[at] != ',') return false;
        at = skip_space(s, at + 1);
      }
      return false;
    }
    at = skip_value(s, at);
    if (at == std::string_view::npos) return false;
    at = skip_space(s, at);
    if (at >= s.size() || s[at] != ',') return false;
    at = skip_space(s, at + 1);
  }
  return false;
}

}  // namespace spanline::detail
