#include "spool/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace spanline::detail {
namespace {

std::string bytes_of(std::size_t n, std::uint8_t (*f)(std::size_t)) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(f(i));
  return s;
}

// Check value from the CRC catalogue and the iSCSI vectors of RFC 3720, B.4.
TEST(SpoolCrc32c, KnownVectors) {
  for (auto fn : {crc32c_extend_portable, crc32c_extend_hardware, crc32c_extend}) {
    const auto crc = [fn](const std::string& s) { return fn(0, s.data(), s.size()); };
    EXPECT_EQ(crc("123456789"), 0xE3069283u);
    EXPECT_EQ(crc(""), 0u);
    EXPECT_EQ(crc(std::string(32, '\0')), 0x8A9136AAu);
    EXPECT_EQ(crc(std::string(32, '\xff')), 0x62A8AB43u);
    EXPECT_EQ(crc(bytes_of(32, [](std::size_t i) { return static_cast<std::uint8_t>(i); })), 0x46DD794Eu);
    EXPECT_EQ(crc(bytes_of(32, [](std::size_t i) { return static_cast<std::uint8_t>(31 - i); })),
              0x113FDB5Cu);
  }
}

TEST(SpoolCrc32c, ImplementationsAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(5);
  std::string data(4096 + 16, '\0');
  for (auto& c : data) c = static_cast<char>(rng() & 0xff);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length : {0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096}) {
      const char* p = data.data() + offset;
      EXPECT_EQ(crc32c_extend_portable(0, p, length), crc32c_extend_hardware(0, p, length))
          << "offset " << offset << " length " << length;
    }
  }
}

TEST(SpoolCrc32c, ExtendEqualsWhole) {
  const std::string a = "spanline spool ";
  const std::string b = "records are checked with CRC32C";
  EXPECT_EQ(crc32c_extend(crc32c(a), b.data(), b.size()), crc32c(a + b));
  EXPECT_EQ(crc32c_extend_portable(crc32c_extend_portable(0, a.data(), a.size()), b.data(), b.size()),
            crc32c(a + b));
}

TEST(SpoolCrc32c, DetectsEverySingleBitFlip) {
  std::string data = "{\"events\":[{\"id\":\"1\",\"input\":\"hello\"}]}";
  const std::uint32_t good = crc32c(data);
  for (std::size_t i = 0; i < data.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      data[i] = static_cast<char>(data[i] ^ (1 << bit));
      EXPECT_NE(crc32c(data), good);
      data[i] = static_cast<char>(data[i] ^ (1 << bit));
    }
  }
}

}  // namespace
}  // namespace spanline::detail
