#include "request_body.hpp"

#include "codec/codec.hpp"

#include <boost/beast/http/field.hpp>
#include <gtest/gtest.h>

namespace spanline::agent {
namespace {

namespace http = boost::beast::http;

HttpRequest request_with(std::string_view encoding, std::string body) {
  HttpRequest request{http::verb::post, "/v1/project_logs/p/insert", 11};
  if (!encoding.empty()) request.set(http::field::content_encoding, encoding);
  request.body() = std::move(body);
  return request;
}

const std::string kEvents = R"({"events":[{"id":"a","input":"hello"}]})";

TEST(RequestBody, GzipAndZstdBodiesAreDecodedInPlace) {
  for (const Compression codec : {Compression::gzip, Compression::zstd}) {
    auto request = request_with(detail::content_encoding(codec), detail::compress(codec, kEvents));
    EXPECT_FALSE(decode_request_body(request, 1 << 20, "ingest.max_body_bytes"));
    EXPECT_EQ(request.body(), kEvents);
    EXPECT_TRUE(request[http::field::content_encoding].empty());
  }
}

TEST(RequestBody, IdentityAndNoHeaderLeaveTheBody) {
  for (const std::string_view encoding : {"", "identity", " Identity "}) {
    auto request = request_with(encoding, kEvents);
    EXPECT_FALSE(decode_request_body(request, 1 << 20, "ingest.max_body_bytes")) << encoding;
    EXPECT_EQ(request.body(), kEvents);
  }
}

TEST(RequestBody, UnknownEncodingIs415) {
  auto request = request_with("br", kEvents);
  const auto failure = decode_request_body(request, 1 << 20, "ingest.max_body_bytes");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->status, 415u);
  EXPECT_EQ(request.body(), kEvents);
}

TEST(RequestBody, CorruptBodyIs400) {
  for (const std::string_view encoding : {"gzip", "zstd"}) {
    auto request = request_with(encoding, "definitely not compressed");
    const auto failure = decode_request_body(request, 1 << 20, "ingest.max_body_bytes");
    ASSERT_TRUE(failure) << encoding;
    EXPECT_EQ(failure->status, 400u) << encoding;
  }
}

TEST(RequestBody, DecompressionBombIs413NamingTheSetting) {
  const std::string zeros(64 << 20, '\0');  // 64 MiB of zeros compress to a few KiB
  for (const Compression codec : {Compression::gzip, Compression::zstd}) {
    auto request = request_with(detail::content_encoding(codec), detail::compress(codec, zeros));
    ASSERT_LT(request.body().size(), std::size_t{1} << 20);
    const auto failure = decode_request_body(request, 1 << 20, "ingest.max_body_bytes");
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->status, 413u);
    EXPECT_NE(failure->message.find("ingest.max_body_bytes"), std::string::npos);
  }
}

}  // namespace
}  // namespace spanline::agent
