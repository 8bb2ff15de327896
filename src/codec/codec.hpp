#pragma once
// Request body codecs: zstd, gzip and identity.

#include <spanline/options.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace spanline::detail {

// Content-Encoding token: "zstd", "gzip", or "" for none.
std::string_view content_encoding(Compression compression);
// Parses a Content-Encoding header value ("zstd", "gzip", "identity", "" ...).
std::optional<Compression> parse_content_encoding(std::string_view header);

// Throws std::runtime_error on failure. zstd level is ignored for other codecs.
// Each calling thread keeps its own codec state and output buffer (sized for the largest
// input it compressed) and reuses them, so calls on one thread cost no set-up; the
// output is the same as a fresh context would produce.
std::string compress(Compression compression, std::string_view input, int zstd_level = 1);
// What decompress() throws when the output would exceed its bound: a receiver answers
// this one "too large" (a decompression bomb) and other failures "corrupt".
struct DecompressedTooLarge : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws std::runtime_error on corrupt input, DecompressedTooLarge when the output would
// exceed `max_output`.
// Reuses a decoder per calling thread, like compress().
std::string decompress(Compression compression, std::string_view input, std::size_t max_output);

// The next encoding to try after the server refused `current` (zstd -> gzip -> none).
Compression fallback_after(Compression current);

}  // namespace spanline::detail
