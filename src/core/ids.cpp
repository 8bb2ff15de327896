#include "core/ids.hpp"

#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace spanline::detail {
namespace {

class Xoshiro256 {
 public:
  Xoshiro256() {
    // Mix the OS entropy with a process-wide counter: even a weak random_device
    // cannot hand two threads the same stream.
    static std::atomic<std::uint64_t> instances{0};
    std::random_device entropy;
    std::uint64_t seed = (std::uint64_t{entropy()} << 32) ^ entropy() ^
                         (instances.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ULL);
    for (auto& word : state_) word = split_mix(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t split_mix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::array<std::uint64_t, 4> state_{};
};

Xoshiro256& generator() {
  thread_local Xoshiro256 instance;
  return instance;
}

// The 8 bytes of `word` in memory order as 16 lowercase hex digits, high nibble first,
// returned as two words of 8 characters each (memory order again). SSE2 (every x86-64)
// does all 16 at once: no table lookups, no loop. Kept in registers: a UUID's dashes
// then go in with plain stores, never reloading a partly written buffer (a store-to-
// load forwarding stall).
struct HexWord {
  std::uint64_t first;   // characters 0-7
  std::uint64_t second;  // characters 8-15
};

HexWord hex_word(std::uint64_t word) {
#if defined(__SSE2__)
  const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(word));
  const __m128i low_nibbles = _mm_set1_epi8(0x0F);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), low_nibbles);
  const __m128i low = _mm_and_si128(bytes, low_nibbles);
  const __m128i nibbles = _mm_unpacklo_epi8(high, low);
  const __m128i letters =
      _mm_and_si128(_mm_cmpgt_epi8(nibbles, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
  const __m128i text = _mm_add_epi8(_mm_add_epi8(nibbles, _mm_set1_epi8('0')), letters);
  return {static_cast<std::uint64_t>(_mm_cvtsi128_si64(text)),
          static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(text, text)))};
#else
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char bytes[8];
  std::memcpy(bytes, &word, 8);
  char text[16];
  for (int i = 0; i < 8; ++i) {
    text[2 * i] = kHex[bytes[i] >> 4];
    text[2 * i + 1] = kHex[bytes[i] & 0xF];
  }
  HexWord result;
  std::memcpy(&result.first, text, 8);
  std::memcpy(&result.second, text + 8, 8);
  return result;
#endif
}

void write_hex_word(char* out, std::uint64_t word) {
  const HexWord hex = hex_word(word);
  std::memcpy(out, &hex.first, 8);
  std::memcpy(out + 8, &hex.second, 8);
}

std::size_t write_uuid_v4(char* out) {
  std::uint64_t high = generator().next();
  std::uint64_t low = generator().next();
  // Bytes in memory order (little-endian words): byte 6 carries the version (4),
  // byte 8 the RFC 4122 variant (10xx).
  high = (high & ~(std::uint64_t{0xF0} << 48)) | (std::uint64_t{0x40} << 48);
  low = (low & ~std::uint64_t{0xC0}) | std::uint64_t{0x80};
  if constexpr (std::endian::native != std::endian::little) {
    char hex[32];
    write_hex_word(hex, high);
    write_hex_word(hex + 16, low);
    std::memcpy(out, hex, 8);
    out[8] = '-';
    std::memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    std::memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    std::memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    std::memcpy(out + 24, hex + 20, 12);
    return 36;
  }
  const HexWord h = hex_word(high);
  const HexWord l = hex_word(low);
  // 8-4-4-4-12: h.first | h.second (4, 4) | l.first (4, 4) | l.second (8); the low
  // half of a little-endian word holds its first characters.
  const auto h2 = static_cast<std::uint32_t>(h.second);
  const auto h3 = static_cast<std::uint32_t>(h.second >> 32);
  const auto l1 = static_cast<std::uint32_t>(l.first);
  const auto l2 = static_cast<std::uint32_t>(l.first >> 32);
  std::memcpy(out, &h.first, 8);
  out[8] = '-';
  std::memcpy(out + 9, &h2, 4);
  out[13] = '-';
  std::memcpy(out + 14, &h3, 4);
  out[18] = '-';
  std::memcpy(out + 19, &l1, 4);
  out[23] = '-';
  std::memcpy(out + 24, &l2, 4);
  std::memcpy(out + 28, &l.second, 8);
  return 36;
}

constexpr std::array<char, 200> kDigitPairs = [] {
  std::array<char, 200> pairs{};
  for (int i = 0; i < 100; ++i) {
    pairs[static_cast<std::size_t>(2 * i)] = static_cast<char>('0' + i / 10);
    pairs[static_cast<std::size_t>(2 * i + 1)] = static_cast<char>('0' + i % 10);
  }
  return pairs;
}();

void write_two_digits(char* out, std::uint32_t value) { std::memcpy(out, &kDigitPairs[2 * value], 2); }

// Six digits, zero-padded: the microseconds of a second.
void write_six_digits(char* out, std::uint32_t value) {
  write_two_digits(out, value / 10'000);
  write_two_digits(out + 2, value / 100 % 100);
  write_two_digits(out + 4, value % 100);
}

std::int64_t micros_since_epoch(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
}

}  // namespace

std::size_t write_row_id(char* out, IdFormat format) {
  if (format == IdFormat::uuid) return write_uuid_v4(out);
  write_hex_word(out, generator().next());
  write_hex_word(out + 16, generator().next());
  return 32;
}

std::size_t write_span_id(char* out, IdFormat format) {
  if (format == IdFormat::uuid) return write_uuid_v4(out);
  write_hex_word(out, generator().next());
  return 16;
}

void append_row_id(std::string& out, IdFormat format) {
  char id[kMaxIdChars];
  out.append(id, write_row_id(id, format));
}

void append_span_id(std::string& out, IdFormat format) {
  char id[kMaxIdChars];
  out.append(id, write_span_id(id, format));
}

std::string new_row_id(IdFormat format) {
  std::string id;
  append_row_id(id, format);
  return id;
}

std::string new_span_id(IdFormat format) {
  std::string id;
  append_span_id(id, format);
  return id;
}

void write_iso8601(char* out, std::chrono::system_clock::time_point when) {
  const std::int64_t micros = micros_since_epoch(when);
  const std::int64_t seconds = micros >= 0 ? micros / 1'000'000 : (micros - 999'999) / 1'000'000;
  const auto fraction = static_cast<std::uint32_t>(micros - seconds * 1'000'000);
  const std::int64_t minute = seconds >= 0 ? seconds / 60 : (seconds - 59) / 60;

  // The calendar part is the slow bit (gmtime_r, strftime); it changes once a minute,
  // so each thread formats "YYYY-MM-DDTHH:MM:" once per minute and adds the seconds.
  thread_local std::int64_t cached_minute = std::numeric_limits<std::int64_t>::min();
  thread_local char cached_prefix[18];  // "YYYY-MM-DDTHH:MM:" and strftime's terminator
  if (minute != cached_minute) {
    const auto t = static_cast<std::time_t>(minute * 60);
    std::tm parts{};
    gmtime_r(&t, &parts);
    std::strftime(cached_prefix, sizeof cached_prefix, "%Y-%m-%dT%H:%M:", &parts);
    cached_minute = minute;
  }
  std::memcpy(out, cached_prefix, 17);
  write_two_digits(out + 17, static_cast<std::uint32_t>(seconds - minute * 60));
  out[19] = '.';
  write_six_digits(out + 20, fraction);
  out[26] = 'Z';
}

void append_iso8601(std::string& out, std::chrono::system_clock::time_point when) {
  char text[kIso8601Chars];
  write_iso8601(text, when);
  out.append(text, sizeof text);
}

double unix_seconds(std::chrono::system_clock::time_point when) {
  return static_cast<double>(micros_since_epoch(when)) / 1e6;
}

std::size_t write_unix_seconds(char* out, std::chrono::system_clock::time_point when) {
  const std::int64_t micros = micros_since_epoch(when);
  // Shortest round-trip text of micros / 1e6 is "S.ffffff" with trailing zeros cut when
  // (a) doubles there are closer than 1e-6 apart, so no shorter decimal maps to the same
  // double (true below 2^33 s, the year 2242), (b) fixed notation is shorter than
  // scientific, as it is for 10-digit seconds with a non-zero fraction. Anything else
  // (whole seconds, the distant past or future) goes through std::to_chars.
  constexpr std::int64_t kFrom = std::int64_t{1'000'000'000} * 1'000'000;
  constexpr std::int64_t kUntil = (std::int64_t{1} << 33) * 1'000'000;
  const auto fraction = static_cast<std::uint32_t>(micros % 1'000'000);
  if (micros < kFrom || micros >= kUntil || fraction == 0) {
    // 32 characters hold any double's shortest form; "null" is only for form's sake.
    const auto [end, ec] = std::to_chars(out, out + kMaxUnixSecondsChars, unix_seconds(when));
    if (ec == std::errc()) return static_cast<std::size_t>(end - out);
    std::memcpy(out, "null", 4);
    return 4;
  }
  auto seconds = static_cast<std::uint64_t>(micros / 1'000'000);  // exactly 10 digits
  for (int pair = 4; pair >= 0; --pair) {
    write_two_digits(out + 2 * pair, static_cast<std::uint32_t>(seconds % 100));
    seconds /= 100;
  }
  out[10] = '.';
  write_six_digits(out + 11, fraction);
  std::size_t size = 17;
  while (out[size - 1] == '0') --size;  // the fraction is non-zero: stops before '.'
  return size;
}

}  // namespace spanline::detail
