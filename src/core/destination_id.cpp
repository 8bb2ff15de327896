#include "core/destination_id.hpp"

#include <algorithm>
#include <cstdio>

namespace spanline::detail {

namespace {

bool id_character(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

}  // namespace

std::optional<std::string_view> destination_id_problem(std::string_view id) noexcept {
  if (id.empty()) return "must not be empty";
  if (id.size() > kMaxDestinationIdBytes) return "is longer than 128 characters";
  if (!std::all_of(id.begin(), id.end(), id_character)) {
    return "may hold only the characters A-Z a-z 0-9 - _ . (it goes into the request path)";
  }
  if (id == "." || id == "..")
    return "must not be \".\" or \"..\" (path segments with a meaning of their own)";
  return std::nullopt;
}

std::string printable_id(std::string_view id) {
  constexpr std::size_t kShown = 64;
  std::string out;
  for (std::size_t i = 0; i < id.size() && i < kShown; ++i) {
    const auto byte = static_cast<unsigned char>(id[i]);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out += static_cast<char>(byte);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  if (id.size() > kShown) out += "...";
  return out;
}

}  // namespace spanline::detail
