#include "log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace spanline::agent {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

// journald sets JOURNAL_STREAM for services whose stderr it reads.
bool under_journald() {
  static const bool value = std::getenv("JOURNAL_STREAM") != nullptr;
  return value;
}

std::string_view syslog_prefix(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "<7>";
    case LogLevel::info:
      return "<6>";
    case LogLevel::warn:
      return "<4>";
    case LogLevel::error:
      return "<3>";
  }
  return "<6>";
}

void append_hex_byte(std::string& out, unsigned char byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += "\\x";
  out += kDigits[byte >> 4];
  out += kDigits[byte & 0xf];
}

// Characters that print as something other than themselves, or move text around.
bool invisible_code_point(char32_t c) {
  return (c >= 0x80 && c <= 0x9f) ||      // C1 controls
         c == 0x2028 || c == 0x2029 ||    // line and paragraph separators
         (c >= 0x202a && c <= 0x202e) ||  // bidirectional embeddings and overrides
         (c >= 0x2066 && c <= 0x2069) ||  // bidirectional isolates
         c == 0xfeff;                     // byte order mark
}

// The length of the well-formed UTF-8 sequence at the front of `text` (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF) and its code point; 0 if none.
std::size_t utf8_sequence(std::string_view text, char32_t& code_point) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  char32_t value = 0;
  unsigned char low = 0x80, high = 0xbf;  // allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, value = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, value = lead & 0x0f;
    if (lead == 0xe0) low = 0xa0;   // overlong
    if (lead == 0xed) high = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, value = lead & 0x07;
    if (lead == 0xf0) low = 0x90;   // overlong
    if (lead == 0xf4) high = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char b = byte(i);
    if (b < (i == 1 ? low : 0x80) || b > (i == 1 ? high : 0xbf)) return 0;
    value = (value << 6) | (b & 0x3f);
  }
  code_point = value;
  return length;
}

}  // namespace

void append_log_text(std::string& out, std::string_view text) {
  while (!text.empty()) {
    const auto byte = static_cast<unsigned char>(text.front());
    if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
      text.remove_prefix(1);
      continue;
    }
    if (byte < 0x80) {  // C0 control or DEL
      append_hex_byte(out, byte);
      text.remove_prefix(1);
      continue;
    }
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text, code_point);
    if (length == 0) {
      append_hex_byte(out, byte);
      text.remove_prefix(1);
      continue;
    }
    if (invisible_code_point(code_point)) {
      char escaped[16];
      std::snprintf(escaped, sizeof escaped, "\\u{%04x}", static_cast<unsigned>(code_point));
      out += escaped;
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line;
  line.reserve(message.size() + component.size() + 16);
  if (under_journald()) line += syslog_prefix(level);
  line += to_string(level);
  line += ' ';
  append_log_text(line, component);
  line += ": ";
  append_log_text(line, message);  // one event, one line, nothing a terminal would act on
  line += '\n';
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // nowhere left to report a failing stderr
    written += static_cast<std::size_t>(n);
  }
}

bool LogRateLimiter::allow(const std::string& key, std::uint64_t& suppressed) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  Slot& slot = slots_[key];
  if (!slot.window_start || now - *slot.window_start >= interval_) {
    slot.window_start = now;
    slot.in_window = 0;
  }
  if (slot.in_window < burst_) {
    ++slot.in_window;
    suppressed = slot.suppressed;
    slot.suppressed = 0;
    return true;
  }
  ++slot.suppressed;
  return false;
}

}  // namespace spanline::agent
