#include "codec/codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace spanline::detail {
namespace {

constexpr Compression kAllCodecs[] = {Compression::zstd, Compression::gzip, Compression::none};

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string repetitive_json(std::size_t n) {
  const std::string unit = R"({"id":"0b9f","input":{"prompt":"hello world"},"scores":{"acc":0.5}},)";
  std::string s;
  s.reserve(n + unit.size());
  while (s.size() < n) s += unit;
  s.resize(n);
  return s;
}

std::vector<std::pair<std::string, std::string>> sample_inputs() {
  return {{"empty", ""},
          {"one_byte", "x"},
          {"random_1MiB", random_bytes(1 << 20, 42)},
          {"repetitive_1MiB", repetitive_json(1 << 20)}};
}

TEST(Codec, RoundTripsEveryCodecAndSize) {
  for (const Compression codec : kAllCodecs) {
    for (const auto& [name, input] : sample_inputs()) {
      SCOPED_TRACE(std::string(content_encoding(codec)) + "/" + name);
      const std::string packed = compress(codec, input);
      const std::string unpacked = decompress(codec, packed, input.size());
      EXPECT_EQ(unpacked.size(), input.size());
      EXPECT_TRUE(unpacked == input);
    }
  }
}

TEST(Codec, RepetitiveInputShrinks) {
  const std::string input = repetitive_json(1 << 20);
  EXPECT_LT(compress(Compression::zstd, input).size(), input.size() / 10);
  EXPECT_LT(compress(Compression::gzip, input).size(), input.size() / 10);
  EXPECT_EQ(compress(Compression::none, input).size(), input.size());
}

TEST(Codec, ZstdLevelIsHonoured) {
  const std::string input = repetitive_json(256 << 10) + random_bytes(4096, 7);
  for (int level : {1, 3, 19}) {
    const std::string packed = compress(Compression::zstd, input, level);
    EXPECT_EQ(decompress(Compression::zstd, packed, input.size()), input) << "level " << level;
  }
}

TEST(Codec, OutputDoesNotDependOnEarlierCallsOnTheThread) {
  // Each thread reuses its codec state and output buffer: a call must give the same bytes
  // whatever the thread compressed (or failed to decompress) before, and the same as on
  // a thread that never compressed anything.
  const std::string small = repetitive_json(10 << 10);
  const std::string large = repetitive_json(1 << 20) + random_bytes(64 << 10, 3);
  for (const Compression codec : {Compression::zstd, Compression::gzip}) {
    SCOPED_TRACE(std::string(content_encoding(codec)));
    std::string on_fresh_thread;
    std::thread([&] { on_fresh_thread = compress(codec, small, 1); }).join();
    const std::string first = compress(codec, small, 1);
    (void)compress(codec, large, 19);
    EXPECT_THROW(decompress(codec, first.substr(0, first.size() / 2), 1 << 20), std::runtime_error);
    const std::string again = compress(codec, small, 1);
    EXPECT_EQ(first, on_fresh_thread);
    EXPECT_EQ(again, first);
    EXPECT_EQ(decompress(codec, again, small.size()), small);
    EXPECT_EQ(decompress(codec, compress(codec, large, 1), large.size()), large);
  }
}

TEST(Codec, GzipOutputHasGzipMagic) {
  const std::string packed = compress(Compression::gzip, "hello");
  ASSERT_GE(packed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(packed[1]), 0x8b);
}

TEST(Codec, ZstdOutputHasZstdMagic) {
  const std::string packed = compress(Compression::zstd, "hello");
  ASSERT_GE(packed.size(), 4u);
  EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x28);
  EXPECT_EQ(static_cast<unsigned char>(packed[1]), 0xb5);
  EXPECT_EQ(static_cast<unsigned char>(packed[2]), 0x2f);
  EXPECT_EQ(static_cast<unsigned char>(packed[3]), 0xfd);
}

TEST(Codec, CorruptInputThrows) {
  const std::string input = repetitive_json(64 << 10);
  for (const Compression codec : {Compression::zstd, Compression::gzip}) {
    SCOPED_TRACE(std::string(content_encoding(codec)));
    const std::string packed = compress(codec, input);
    // Not a stream of this codec at all.
    EXPECT_THROW(decompress(codec, "definitely not compressed", 1 << 20), std::runtime_error);
    // Empty input is not a valid stream either.
    EXPECT_THROW(decompress(codec, "", 1 << 20), std::runtime_error);
    // Truncated stream.
    EXPECT_THROW(decompress(codec, packed.substr(0, packed.size() / 2), 1 << 20), std::runtime_error);
    // Flipped bytes in the middle: the checksum (gzip CRC, zstd block structure) catches it.
    std::string flipped = packed;
    for (std::size_t i = flipped.size() / 3; i < flipped.size() / 3 + 8; ++i) flipped[i] ^= 0x5a;
    EXPECT_THROW(decompress(codec, flipped, 1 << 20), std::runtime_error);
  }
}

TEST(Codec, MaxOutputIsEnforced) {
  const std::string input = repetitive_json(1 << 20);
  for (const Compression codec : kAllCodecs) {
    SCOPED_TRACE(std::string(content_encoding(codec)));
    const std::string packed = compress(codec, input);
    EXPECT_THROW(decompress(codec, packed, input.size() - 1), std::runtime_error);
    EXPECT_THROW(decompress(codec, packed, 1000), std::runtime_error);
    EXPECT_EQ(decompress(codec, packed, input.size()).size(), input.size());
  }
}

TEST(Codec, MaxOutputGuardsZstdFramesWithoutDeclaredSize) {
  // Concatenated frames: the first frame's declared size says nothing about the
  // whole, so the guard must come from the decode loop.
  const std::string part = repetitive_json(300 << 10);
  const std::string packed = compress(Compression::zstd, part) + compress(Compression::zstd, part);
  EXPECT_EQ(decompress(Compression::zstd, packed, 2 * part.size()), part + part);
  EXPECT_THROW(decompress(Compression::zstd, packed, 2 * part.size() - 1), std::runtime_error);
}

TEST(Codec, ContentEncodingTokens) {
  EXPECT_EQ(content_encoding(Compression::zstd), "zstd");
  EXPECT_EQ(content_encoding(Compression::gzip), "gzip");
  EXPECT_EQ(content_encoding(Compression::none), "");
}

TEST(Codec, ParseContentEncoding) {
  EXPECT_EQ(parse_content_encoding("zstd"), Compression::zstd);
  EXPECT_EQ(parse_content_encoding("ZSTD"), Compression::zstd);
  EXPECT_EQ(parse_content_encoding("gzip"), Compression::gzip);
  EXPECT_EQ(parse_content_encoding(" gzip "), Compression::gzip);
  EXPECT_EQ(parse_content_encoding("x-gzip"), Compression::gzip);
  EXPECT_EQ(parse_content_encoding("identity"), Compression::none);
  EXPECT_EQ(parse_content_encoding(""), Compression::none);
  EXPECT_EQ(parse_content_encoding("br"), std::nullopt);
  EXPECT_EQ(parse_content_encoding("deflate"), std::nullopt);
  EXPECT_EQ(parse_content_encoding("gzip, zstd"), std::nullopt);
  for (const Compression codec : kAllCodecs)
    EXPECT_EQ(parse_content_encoding(content_encoding(codec)), codec);
}

TEST(Codec, FallbackChainEndsAtNone) {
  EXPECT_EQ(fallback_after(Compression::zstd), Compression::gzip);
  EXPECT_EQ(fallback_after(Compression::gzip), Compression::none);
  EXPECT_EQ(fallback_after(Compression::none), Compression::none);
}

}  // namespace
}  // namespace spanline::detail
