#pragma once
// The fake API's per-request body work, kept cheap because in the end-to-end
// benchmark the server shares two cores with the library it measures: decoding
// (Content-Encoding) into a reused buffer, and reading the row ids of an insert
// without building a DOM.

#include "codec/codec.hpp"

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::fakeapi::detail {

// Bytes a JSON parser may read past the end of a body (simdjson's padding).
inline constexpr std::size_t kBodyPadding = 64;

// A decoded body: a view of the request's own body (identity) or of a
// BodyDecoder's buffer, valid until that decoder decodes again or the request
// is destroyed, whichever comes first. At least text.size() + kBodyPadding
// bytes are readable from text.data(), so parsers can read it in place.
struct DecodedBody {
  std::string_view text;
};

enum class DecodeStatus { ok, too_large, corrupt };

// Decodes request bodies, reusing one zstd context and one output buffer. Not
// thread-safe: the fake API keeps one per io thread.
class BodyDecoder {
 public:
  BodyDecoder();
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // Decodes `body` (which may grow spare capacity, never change its content) into
  // `out`. too_large: the decoded size exceeds max_bytes. corrupt: `error` says why.
  DecodeStatus decode(Compression encoding, std::string& body, std::size_t max_bytes, DecodedBody& out,
                      std::string& error);

 private:
  // A single zstd frame that declares its size decodes in one call straight into
  // buffer_, with no streaming window copy and no zero-filling.
  DecodeStatus decode_zstd_frame(std::string_view input, std::size_t size, DecodedBody& out,
                                 std::string& error);
  char* reserve(std::size_t size);  // buffer_ with room for size + kBodyPadding bytes

  struct ContextDeleter {
    void operator()(void* context) const noexcept;
  };
  std::unique_ptr<void, ContextDeleter> zstd_;  // ZSTD_DCtx, kept out of this header
  std::unique_ptr<char[]> buffer_;              // uninitialised: only decoded bytes are read
  std::size_t capacity_ = 0;
  std::string fallback_;  // other encodings and unsized zstd, through the library's codec
};

enum class InsertBodyError {
  none,
  invalid_json,
  not_object,
  no_events_array,
  event_not_object,
  id_not_string
};

struct InsertIds {
  InsertBodyError error = InsertBodyError::none;
  std::size_t index = 0;  // the event at fault, for event_not_object and id_not_string
};

// Reads an insert body {"events":[{"id":...}, ...]}: appends each event's string
// id to `ids` in order, and for an event whose id is missing or null appends a
// new UUID kept in `assigned`. The views in `ids` point into `body`, into
// `assigned` or into this thread's parser, and stay valid until the thread's
// next call. The structure down to the ids is validated (an object, an "events"
// array, events that are objects, ids that are strings or null, nothing after
// the root); values inside an event other than its id are skipped unchecked.
// The first "events" key and each event's first "id" key count, as in a DOM.
InsertIds read_insert_ids(DecodedBody body, std::vector<std::string_view>& ids,
                          std::deque<std::string>& assigned);

}  // namespace spanline::fakeapi::detail
