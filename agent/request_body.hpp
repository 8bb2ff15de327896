#pragma once
// Decodes an ingest request's body in place according to its Content-Encoding (gzip,
// zstd or identity), with the decoded size bounded so that a small compressed body
// cannot expand into gigabytes (a decompression bomb is refused, not buffered).

#include "http_server.hpp"

#include <cstddef>
#include <optional>
#include <string>

namespace spanline::agent {

struct BodyDecodeFailure {
  unsigned status;      // 415 unknown encoding, 400 corrupt, 413 decoded size over the bound
  std::string message;  // for the client; names no request data
};

// On success the request's body holds the decoded bytes and its Content-Encoding header is
// removed. On failure the body is left as it was.
std::optional<BodyDecodeFailure> decode_request_body(HttpRequest& request, std::size_t max_decoded_bytes,
                                                     std::string_view limit_setting);

}  // namespace spanline::agent
