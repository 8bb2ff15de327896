#include "otlp/otlp_json_text.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace spanline::otlp {

namespace {

// For each byte: 0 when it is written as it is, else the character after the backslash
// ('u' for the \u00xx form). The same table as boost::json's serializer.
constexpr std::array<char, 256> kEscapes = [] {
  std::array<char, 256> table{};
  for (int c = 0; c < 0x20; ++c) table[static_cast<std::size_t>(c)] = 'u';
  table['\b'] = 'b';
  table['\t'] = 't';
  table['\n'] = 'n';
  table['\f'] = 'f';
  table['\r'] = 'r';
  table['"'] = '"';
  table['\\'] = '\\';
  return table;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  const char* run = text.data();  // start of the bytes not yet copied
  const char* const end = text.data() + text.size();
  for (const char* at = run; at != end; ++at) {
    const char escape = kEscapes[static_cast<unsigned char>(*at)];
    if (escape == 0) continue;
    out.append(run, static_cast<std::size_t>(at - run));
    run = at + 1;
    if (escape != 'u') {
      const char pair[2] = {'\\', escape};
      out.append(pair, 2);
    } else {
      const auto byte = static_cast<unsigned char>(*at);
      const char sequence[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xF]};
      out.append(sequence, 6);
    }
  }
  out.append(run, static_cast<std::size_t>(end - run));
  out += '"';
}

void append_json_integer(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, static_cast<std::size_t>(result.ptr - buffer));
}

void append_json_double(std::string& out, double value) {
  // std::to_chars gives the shortest digits that read back as `value` (libstdc++ uses Ryu,
  // as boost::json does), spelled "1.5e+00": only the exponent is rewritten, to "E0".
  char buffer[40];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const char* const end = result.ptr;
  const auto size = static_cast<std::size_t>(end - buffer);
  const char* e = static_cast<const char*>(std::memchr(buffer, 'e', size));
  if (e == nullptr) {  // not reached for finite values; kept safe all the same
    out.append(buffer, size);
    return;
  }
  out.append(buffer, static_cast<std::size_t>(e - buffer));
  out += 'E';
  const char* digits = e + 1;
  if (*digits == '-') out += '-';
  if (*digits == '-' || *digits == '+') ++digits;
  while (digits + 1 < end && *digits == '0') ++digits;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace spanline::otlp
