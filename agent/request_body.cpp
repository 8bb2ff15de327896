#include "request_body.hpp"

#include "codec/codec.hpp"

#include <boost/beast/http/field.hpp>

namespace spanline::agent {

namespace http = boost::beast::http;

std::optional<BodyDecodeFailure> decode_request_body(HttpRequest& request, std::size_t max_decoded_bytes,
                                                     std::string_view limit_setting) {
  const auto header = request[http::field::content_encoding];
  if (header.empty()) return std::nullopt;
  const auto encoding = detail::parse_content_encoding(header);
  if (!encoding) {
    return BodyDecodeFailure{415, "Content-Encoding must be gzip, zstd or identity"};
  }
  if (*encoding == Compression::none) {
    request.erase(http::field::content_encoding);
    return std::nullopt;
  }
  const std::string_view name = detail::content_encoding(*encoding);
  try {
    std::string decoded = detail::decompress(*encoding, request.body(), max_decoded_bytes);
    request.body() = std::move(decoded);
  } catch (const detail::DecompressedTooLarge&) {
    return BodyDecodeFailure{413, "the " + std::string(name) + " body decodes to more than " +
                                      std::to_string(max_decoded_bytes) + " bytes (" +
                                      std::string(limit_setting) + ")"};
  } catch (const std::exception&) {
    return BodyDecodeFailure{400, "the body is not valid " + std::string(name) + " data"};
  }
  request.erase(http::field::content_encoding);
  return std::nullopt;
}

}  // namespace spanline::agent
