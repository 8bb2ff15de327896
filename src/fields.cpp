#include <spanline/fields.hpp>

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace spanline {
namespace detail {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// True when any byte of `word` is a quote, a backslash or a control character:
// the only bytes a JSON string must escape. Eight bytes per step keeps the common
// case (plain prose) close to memcpy speed.
inline bool needs_escape(std::uint64_t word) {
  const std::uint64_t quote = word ^ (kOnes * '"');
  const std::uint64_t backslash = word ^ (kOnes * '\\');
  const std::uint64_t has_quote = (quote - kOnes) & ~quote;
  const std::uint64_t has_backslash = (backslash - kOnes) & ~backslash;
  const std::uint64_t has_control = (word - kOnes * 0x20) & ~word;
  return ((has_quote | has_backslash | has_control) & kHighs) != 0;
}

void append_escaped_char(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default: break;
  }
  if (c < 0x20) {
    static constexpr char kHex[] = "0123456789abcdef";
    const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
    out.append(escaped, 6);
  } else {
    out += static_cast<char>(c);
  }
}

void append_escaped_valid_utf8(std::string& out, std::string_view value) {
  const char* p = value.data();
  const char* end = p + value.size();
  const char* run = p;  // start of the bytes not yet copied
  while (p + 8 <= end) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    if (!needs_escape(word)) {
      p += 8;
      continue;
    }
    for (const char* stop = p + 8; p < stop; ++p) {
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"' || c == '\\' || c < 0x20) {
        out.append(run, p);
        append_escaped_char(out, c);
        run = p + 1;
      }
    }
  }
  for (; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20) {
      out.append(run, p);
      append_escaped_char(out, c);
      run = p + 1;
    }
  }
  out.append(run, end);
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is invalid.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t length = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || length > s.size()) return 0;
  for (std::size_t i = 1; i < length; ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
  return simdjson::validate_utf8(s.data(), length) ? length : 0;
}

// ASCII is valid UTF-8. Keys, ids and names are short, and for them a check a word at a
// time here beats simdjson's validator, which pays a dispatch and a setup per call, and
// a row carries several of them.
bool is_short_ascii(std::string_view value) {
  constexpr std::size_t kShort = 64;
  if (value.size() > kShort) return false;
  std::uint64_t seen = 0;
  std::size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, value.data() + i, 8);
    seen |= word;
  }
  for (; i < value.size(); ++i) seen |= static_cast<unsigned char>(value[i]);
  return (seen & kHighs) == 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  if (is_short_ascii(value) || simdjson::validate_utf8(value.data(), value.size())) {
    append_escaped_valid_utf8(out, value);
  } else {
    // The server needs valid UTF-8: keep every valid sequence and replace each bad
    // byte with U+FFFD rather than refusing the whole row.
    while (!value.empty()) {
      const std::size_t length = utf8_sequence_length(value);
      if (length == 0) {
        out += "\xEF\xBF\xBD";
        value.remove_prefix(1);
      } else {
        append_escaped_valid_utf8(out, value.substr(0, length));
        value.remove_prefix(length);
      }
    }
  }
  out += '"';
}

void append_json_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  std::array<char, 32> buffer;
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), end);
}

}  // namespace detail

namespace {

bool is_reserved_key(std::string_view key) {
  static constexpr std::string_view kReserved[] = {"id",      "span_id",         "root_span_id", "span_parents",
                                                   "created", "span_attributes", "_is_merge",    "_object_delete",
                                                   "metrics"};
  for (std::string_view reserved : kReserved)
    if (key == reserved) return true;
  return false;
}

void append_integer(std::string& out, std::int64_t value) {
  std::array<char, 24> buffer;
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), end);
}

std::string compact_valid_json(std::string_view key, std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element element;
  if (auto error = parser.parse(padded).get(element); error) {
    throw std::invalid_argument("value of '" + std::string(key) + "' is not valid JSON: " +
                                simdjson::error_message(error));
  }
  return simdjson::minify(element);
}

}  // namespace

std::string& Fields::begin_member(std::string_view key) {
  if (key.empty()) throw std::invalid_argument("a field key must not be empty");
  if (is_reserved_key(key)) {
    throw std::invalid_argument("field '" + std::string(key) +
                                "' is written by the logger (use metrics() for metrics, log(to, fields, id) for ids)");
  }
  if (!body_.empty()) body_ += ',';
  detail::append_json_string(body_, key);
  body_ += ':';
  return body_;
}

Fields& Fields::string(std::string_view key, std::string_view value) {
  detail::append_json_string(begin_member(key), value);
  return *this;
}

Fields& Fields::number(std::string_view key, double value) {
  detail::append_json_number(begin_member(key), value);
  return *this;
}

Fields& Fields::integer(std::string_view key, std::int64_t value) {
  append_integer(begin_member(key), value);
  return *this;
}

Fields& Fields::boolean(std::string_view key, bool value) {
  begin_member(key) += value ? "true" : "false";
  return *this;
}

Fields& Fields::null(std::string_view key) {
  begin_member(key) += "null";
  return *this;
}

Fields& Fields::json(std::string_view key, std::string_view json_text) {
  std::string compact = compact_valid_json(key, json_text);
  begin_member(key) += compact;
  return *this;
}

Fields& Fields::json_unchecked(std::string_view key, std::string_view json_text) {
  begin_member(key) += json_text;
  return *this;
}

Fields& Fields::object(std::string_view key, const Fields& nested) {
  if (!nested.metrics_.empty()) throw std::invalid_argument("a nested object cannot carry metrics()");
  std::string& out = begin_member(key);
  out += '{';
  out += nested.body_;
  out += '}';
  return *this;
}

Fields& Fields::scores(std::initializer_list<NumberPair> scores) {
  for (const auto& [name, value] : scores) {
    if (!(value >= 0.0 && value <= 1.0))
      throw std::invalid_argument("score '" + std::string(name) + "' must be in [0, 1], got " + std::to_string(value));
  }
  std::string& out = begin_member("scores");
  out += '{';
  bool first = true;
  for (const auto& [name, value] : scores) {
    if (!first) out += ',';
    first = false;
    detail::append_json_string(out, name);
    out += ':';
    detail::append_json_number(out, value);
  }
  out += '}';
  return *this;
}

Fields& Fields::metadata(std::initializer_list<StringPair> entries) {
  std::string& out = begin_member("metadata");
  out += '{';
  bool first = true;
  for (const auto& [name, value] : entries) {
    if (!first) out += ',';
    first = false;
    detail::append_json_string(out, name);
    out += ':';
    detail::append_json_string(out, value);
  }
  out += '}';
  return *this;
}

Fields& Fields::tags(std::initializer_list<std::string_view> tags) {
  std::string& out = begin_member("tags");
  out += '[';
  bool first = true;
  for (std::string_view tag : tags) {
    if (!first) out += ',';
    first = false;
    detail::append_json_string(out, tag);
  }
  out += ']';
  return *this;
}

Fields& Fields::metrics(std::initializer_list<NumberPair> metrics) {
  for (const auto& [name, value] : metrics) metric(name, value);
  return *this;
}

Fields& Fields::metric(std::string_view name, double value) {
  if (name.empty()) throw std::invalid_argument("a metric name must not be empty");
  if (name == "start" || name == "end")
    throw std::invalid_argument("metric '" + std::string(name) + "' is written by the span");
  if (!metrics_.empty()) metrics_ += ',';
  detail::append_json_string(metrics_, name);
  metrics_ += ':';
  detail::append_json_number(metrics_, value);
  return *this;
}

void Fields::clear() {
  body_.clear();
  metrics_.clear();
}

}  // namespace spanline
