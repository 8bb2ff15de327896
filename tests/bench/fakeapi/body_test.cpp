#include "body.hpp"

#include "codec/codec.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

using spanline::Compression;
using namespace spanline::fakeapi::detail;

std::string zstd(std::string_view text) { return spanline::detail::compress(Compression::zstd, text); }

// A zstd frame whose header does not declare the content size, as a streaming
// compressor writes it.
std::string zstd_without_size(std::string_view text) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  std::string out(ZSTD_compressBound(text.size()) + 64, '\0');
  ZSTD_outBuffer dst{out.data(), out.size(), 0};
  ZSTD_inBuffer src{text.data(), text.size(), 0};
  while (src.pos < src.size) ZSTD_compressStream2(context, &dst, &src, ZSTD_e_continue);
  while (ZSTD_compressStream2(context, &dst, &src, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(context);
  out.resize(dst.pos);
  return out;
}

// Letters that compress into entropy-coded blocks rather than a run.
std::string varied_text(std::size_t size) {
  std::string text(size, 'a');
  std::uint32_t state = 12345;
  for (char& c : text) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>('a' + (state >> 24) % 26);
  }
  return text;
}

std::string zstd_with_checksum(std::string_view text) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t size = ZSTD_compress2(context, out.data(), out.size(), text.data(), text.size());
  ZSTD_freeCCtx(context);
  out.resize(ZSTD_isError(size) ? 0 : size);
  return out;
}

struct Decoded {
  DecodeStatus status;
  std::string text;  // a copy: the view dies with the decoder's next call
  std::string error;
};

Decoded decode(BodyDecoder& decoder, Compression encoding, std::string body,
               std::size_t max_bytes = 1 << 20) {
  DecodedBody out;
  std::string error;
  const DecodeStatus status = decoder.decode(encoding, body, max_bytes, out, error);
  return {status, std::string(out.text), error};
}

TEST(FakeBodyDecoder, DecodesEveryEncodingAndReusesItsBuffer) {
  BodyDecoder decoder;
  const std::string large(200'000, 'a');
  const std::string small = R"({"events":[]})";
  // Large then small then large: a reused buffer must never show stale bytes.
  for (const std::string& text : {large, small, large + "b", small}) {
    for (const auto& [encoding, wire] :
         {std::pair{Compression::zstd, zstd(text)},
          std::pair{Compression::gzip, spanline::detail::compress(Compression::gzip, text)},
          std::pair{Compression::none, text}}) {
      const Decoded got = decode(decoder, encoding, wire);
      ASSERT_EQ(got.status, DecodeStatus::ok) << got.error;
      EXPECT_EQ(got.text, text);
    }
  }
}

TEST(FakeBodyDecoder, DecodesFramesWithoutADeclaredSizeAndSeveralFrames) {
  BodyDecoder decoder;
  const std::string text(50'000, 'q');
  const std::string unsized = zstd_without_size(text);
  ASSERT_EQ(ZSTD_getFrameContentSize(unsized.data(), unsized.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  EXPECT_EQ(decode(decoder, Compression::zstd, unsized).text, text);
  const Decoded two_frames = decode(decoder, Compression::zstd, zstd("first,") + zstd("second"));
  ASSERT_EQ(two_frames.status, DecodeStatus::ok) << two_frames.error;
  EXPECT_EQ(two_frames.text, "first,second");
}

TEST(FakeBodyDecoder, ReportsOversizedAndCorruptBodies) {
  BodyDecoder decoder;
  const std::string text(5000, 'x');
  EXPECT_EQ(decode(decoder, Compression::zstd, zstd(text), 4999).status, DecodeStatus::too_large);
  EXPECT_EQ(decode(decoder, Compression::zstd, zstd_without_size(text), 4999).status,
            DecodeStatus::too_large);
  EXPECT_EQ(
      decode(decoder, Compression::gzip, spanline::detail::compress(Compression::gzip, text), 4999).status,
      DecodeStatus::too_large);
  EXPECT_EQ(decode(decoder, Compression::none, text, 4999).status, DecodeStatus::too_large);
  EXPECT_EQ(decode(decoder, Compression::zstd, zstd(text), 5000).status, DecodeStatus::ok);

  const Decoded garbage = decode(decoder, Compression::zstd, "definitely not zstd");
  EXPECT_EQ(garbage.status, DecodeStatus::corrupt);
  EXPECT_FALSE(garbage.error.empty());
  // A sized, well-framed body whose content is damaged takes the one-call path;
  // the frame's checksum makes the damage certain to show.
  std::string damaged = zstd_with_checksum(varied_text(40'000));
  ASSERT_EQ(ZSTD_findFrameCompressedSize(damaged.data(), damaged.size()), damaged.size());
  damaged[damaged.size() / 2] = static_cast<char>(~damaged[damaged.size() / 2]);
  ASSERT_EQ(ZSTD_findFrameCompressedSize(damaged.data(), damaged.size()), damaged.size());
  const Decoded broken = decode(decoder, Compression::zstd, damaged);
  EXPECT_EQ(broken.status, DecodeStatus::corrupt);
  EXPECT_FALSE(broken.error.empty());
  // And the decoder is still usable afterwards.
  EXPECT_EQ(decode(decoder, Compression::zstd, zstd(text)).text, text);
}

struct Ids {
  InsertIds result;
  std::vector<std::string> ids;
};

Ids read_ids(std::string text) {
  text.reserve(text.size() + kBodyPadding);
  std::vector<std::string_view> views;
  std::deque<std::string> assigned;
  Ids out;
  out.result = read_insert_ids(DecodedBody{text}, views, assigned);
  for (const auto view : views) out.ids.emplace_back(view);
  return out;
}

TEST(FakeBodyInsertIds, ReadsIdsInOrderAndAssignsMissingOnes) {
  const Ids got = read_ids(
      R"( {"events":[{"id":"a","x":{"id":"nested"}},{"input":[1,{"id":"deep"}],"id":"b"},{},{"id":null},)"
      R"({"id":"q\"uote\u00e9"},{"id":"first","id":"second"},{"id":""}], "other": {"events":[{"id":"no"}]}} )");
  ASSERT_EQ(got.result.error, InsertBodyError::none);
  ASSERT_EQ(got.ids.size(), 7u);
  EXPECT_EQ(got.ids[0], "a");
  EXPECT_EQ(got.ids[1], "b");
  EXPECT_EQ(got.ids[2].size(), 36u);
  EXPECT_EQ(got.ids[3].size(), 36u);
  EXPECT_NE(got.ids[2], got.ids[3]);
  EXPECT_EQ(got.ids[4], "q\"uote\xc3\xa9");  // unescaped, as a DOM would give it
  EXPECT_EQ(got.ids[5], "first");
  EXPECT_EQ(got.ids[6], "");

  const Ids first_events = read_ids(R"({"events":[{"id":"x"}],"events":[{"id":"y"}]})");
  ASSERT_EQ(first_events.result.error, InsertBodyError::none);
  EXPECT_EQ(first_events.ids, std::vector<std::string>{"x"});
  EXPECT_EQ(read_ids(R"({"events":[]})").ids.size(), 0u);
}

TEST(FakeBodyInsertIds, RejectsBodiesThatAreNotInserts) {
  struct Case {
    std::string body;
    InsertBodyError error;
    std::size_t index = 0;
  };
  const std::vector<Case> cases = {
      {"", InsertBodyError::invalid_json},
      {"not json", InsertBodyError::not_object},
      {"[1,2]", InsertBodyError::not_object},
      {R"({"rows":[]})", InsertBodyError::no_events_array},
      {R"({"events":{}})", InsertBodyError::no_events_array},
      {R"({"events":[1]})", InsertBodyError::event_not_object},
      {R"({"events":[{"id":"a"},"x"]})", InsertBodyError::event_not_object, 1},
      {R"({"events":[{"id":"a"},{"id":5}]})", InsertBodyError::id_not_string, 1},
      {R"({"events":[{"id":["a"]}]})", InsertBodyError::id_not_string},
      {R"({"events":[{"id":"a"})", InsertBodyError::invalid_json},  // truncated
      {R"({"events":[{"id":"a"}],"more":)", InsertBodyError::invalid_json},
      {R"({"events":[{"id":"a"}]}})", InsertBodyError::invalid_json},  // trailing
      {R"({"events":[{"id":"a"}]} {})", InsertBodyError::invalid_json},
      {R"({"events":[{"id":"a"}]]})", InsertBodyError::invalid_json},
      {R"({"events":[{"id":"unterminated}]})", InsertBodyError::invalid_json},
  };
  for (const Case& c : cases) {
    const Ids got = read_ids(c.body);
    EXPECT_EQ(got.result.error, c.error) << c.body;
    if (c.error == InsertBodyError::event_not_object || c.error == InsertBodyError::id_not_string) {
      EXPECT_EQ(got.result.index, c.index) << c.body;
    }
  }
}

}  // namespace
