#include "core/ids.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <ctime>
#include <random>

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

constexpr char kHex[] = "0123456789abcdef";

void write_hex(char* out, const unsigned char* bytes, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xF];
  }
}

void append_uuid_v4(std::string& out) {
  std::array<unsigned char, 16> bytes;
  const std::uint64_t high = generator().next();
  const std::uint64_t low = generator().next();
  std::memcpy(bytes.data(), &high, 8);
  std::memcpy(bytes.data() + 8, &low, 8);
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char text[36];
  write_hex(text, bytes.data(), 4);
  text[8] = '-';
  write_hex(text + 9, bytes.data() + 4, 2);
  text[13] = '-';
  write_hex(text + 14, bytes.data() + 6, 2);
  text[18] = '-';
  write_hex(text + 19, bytes.data() + 8, 2);
  text[23] = '-';
  write_hex(text + 24, bytes.data() + 10, 6);
  out.append(text, sizeof text);
}

void append_random_hex(std::string& out, std::size_t bytes_count) {
  std::array<unsigned char, 16> bytes;
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < bytes_count; ++i) {
    if (i % 8 == 0) word = generator().next();
    bytes[i] = static_cast<unsigned char>(word >> (8 * (i % 8)));
  }
  char text[32];
  write_hex(text, bytes.data(), bytes_count);
  out.append(text, 2 * bytes_count);
}

}  // namespace

void append_row_id(std::string& out, IdFormat format) {
  if (format == IdFormat::uuid) append_uuid_v4(out);
  else append_random_hex(out, 16);
}

void append_span_id(std::string& out, IdFormat format) {
  if (format == IdFormat::uuid) append_uuid_v4(out);
  else append_random_hex(out, 8);
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

void append_iso8601(std::string& out, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto micros = duration_cast<microseconds>(when.time_since_epoch()).count();
  const std::int64_t seconds = micros >= 0 ? micros / 1'000'000 : (micros - 999'999) / 1'000'000;
  const auto fraction = static_cast<std::uint32_t>(micros - seconds * 1'000'000);

  // Formatting the calendar part is the slow bit; a thread rarely logs across more
  // than one second boundary at a time, so cache it per second.
  thread_local std::int64_t cached_second = -1;
  thread_local char cached_prefix[20];  // "YYYY-MM-DDTHH:MM:SS"
  if (seconds != cached_second) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&t, &parts);
    std::strftime(cached_prefix, sizeof cached_prefix, "%Y-%m-%dT%H:%M:%S", &parts);
    cached_second = seconds;
  }
  char tail[9] = {'.', '0', '0', '0', '0', '0', '0', 'Z', '\0'};
  std::uint32_t rest = fraction;
  for (int i = 6; i >= 1; --i) {
    tail[i] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  }
  out.append(cached_prefix, 19);
  out.append(tail, 8);
}

double unix_seconds(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<microseconds>(when.time_since_epoch()).count()) / 1e6;
}

}  // namespace spanline::detail
