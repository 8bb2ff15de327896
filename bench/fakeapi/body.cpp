#include "body.hpp"

#include "store.hpp"

#include <simdjson.h>
#include <zstd.h>

#include <cstring>
#include <exception>
#include <utility>

namespace spanline::fakeapi::detail {

static_assert(kBodyPadding >= simdjson::SIMDJSON_PADDING, "bodies must carry simdjson's padding");

// ---- BodyDecoder ------------------------------------------------------------------

void BodyDecoder::ContextDeleter::operator()(void* context) const noexcept {
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(context));
}

BodyDecoder::BodyDecoder() : zstd_(ZSTD_createDCtx()) {}

BodyDecoder::~BodyDecoder() = default;

char* BodyDecoder::reserve(std::size_t size) {
  const std::size_t needed = size + kBodyPadding;
  if (needed > capacity_) {
    buffer_.reset();  // give the old one back before taking the larger one
    capacity_ = 0;
    buffer_.reset(new char[needed]);
    capacity_ = needed;
  }
  return buffer_.get();
}

DecodeStatus BodyDecoder::decode(Compression encoding, std::string& body, std::size_t max_bytes,
                                 DecodedBody& out, std::string& error) {
  if (encoding == Compression::none) {
    body.reserve(body.size() + kBodyPadding);  // no copy when the reader left room
    out.text = body;
    return body.size() > max_bytes ? DecodeStatus::too_large : DecodeStatus::ok;
  }
  if (encoding == Compression::zstd && zstd_) {
    // Only a body that is exactly one frame with a declared size takes the
    // one-call path; anything else (several frames, no size, garbage) goes to the
    // streaming codec, which also produces the error messages for bad input.
    const unsigned long long declared = ZSTD_getFrameContentSize(body.data(), body.size());
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR &&
        ZSTD_findFrameCompressedSize(body.data(), body.size()) == body.size()) {
      if (declared > max_bytes) return DecodeStatus::too_large;
      return decode_zstd_frame(body, static_cast<std::size_t>(declared), out, error);
    }
  }
  try {
    fallback_ = spanline::detail::decompress(encoding, body, max_bytes);
  } catch (const std::exception& e) {
    // The codec reports an oversized output with "exceeds"; anything else is corrupt input.
    if (std::strstr(e.what(), "exceeds") != nullptr) return DecodeStatus::too_large;
    error = e.what();
    return DecodeStatus::corrupt;
  }
  fallback_.reserve(fallback_.size() + kBodyPadding);
  out.text = fallback_;
  return fallback_.size() > max_bytes ? DecodeStatus::too_large : DecodeStatus::ok;
}

DecodeStatus BodyDecoder::decode_zstd_frame(std::string_view input, std::size_t size, DecodedBody& out,
                                            std::string& error) {
  auto* context = static_cast<ZSTD_DCtx*>(zstd_.get());
  char* target = reserve(size);
  // The output room is exactly the declared size; zstd checks that the frame
  // decodes to that size, so a lying header is an error, never an overrun.
  const std::size_t decoded = ZSTD_decompressDCtx(context, target, size, input.data(), input.size());
  if (ZSTD_isError(decoded)) {
    error = std::string("zstd decompress: ") + ZSTD_getErrorName(decoded);
    // An error can leave the context mid-frame; the next call must start clean.
    ZSTD_DCtx_reset(context, ZSTD_reset_session_only);
    return DecodeStatus::corrupt;
  }
  out.text = std::string_view(target, decoded);
  return DecodeStatus::ok;
}

// ---- read_insert_ids ------------------------------------------------------------------

namespace {

namespace ondemand = simdjson::ondemand;

// An error of a value expected to have another type, or of broken JSON.
InsertBodyError type_error(simdjson::error_code error, InsertBodyError wrong_type) {
  return error == simdjson::INCORRECT_TYPE ? wrong_type : InsertBodyError::invalid_json;
}

// One event: its first "id" if that is a string, a new UUID if absent or null.
InsertBodyError read_event_id(ondemand::value element, std::vector<std::string_view>& ids,
                              std::deque<std::string>& assigned) {
  ondemand::object event;
  if (auto error = element.get_object().get(event))
    return type_error(error, InsertBodyError::event_not_object);
  ondemand::value id;
  const auto found = event.find_field_unordered("id").get(id);
  if (found == simdjson::NO_SUCH_FIELD) {
    ids.push_back(assigned.emplace_back(make_uuid_v4()));
    return InsertBodyError::none;
  }
  if (found) return InsertBodyError::invalid_json;
  std::string_view text;
  const auto as_string = id.get_string().get(text);
  if (!as_string) {
    ids.push_back(text);
    return InsertBodyError::none;
  }
  if (as_string != simdjson::INCORRECT_TYPE) return InsertBodyError::invalid_json;
  bool null = false;
  if (id.is_null().get(null)) return InsertBodyError::invalid_json;
  if (!null) return InsertBodyError::id_not_string;
  ids.push_back(assigned.emplace_back(make_uuid_v4()));
  return InsertBodyError::none;
}

}  // namespace

InsertIds read_insert_ids(DecodedBody body, std::vector<std::string_view>& ids,
                          std::deque<std::string>& assigned) {
  // One parser per io thread keeps its buffers warm. The on-demand API walks
  // simdjson's structural index without building the DOM that full validation
  // would need; nothing here needs more than the ids.
  thread_local ondemand::parser parser;
  ondemand::document document;
  const simdjson::padded_string_view json(body.text.data(), body.text.size(),
                                          body.text.size() + kBodyPadding);
  if (parser.iterate(json).get(document)) return {InsertBodyError::invalid_json};
  ondemand::object root;
  if (auto error = document.get_object().get(root)) return {type_error(error, InsertBodyError::not_object)};

  bool seen_events = false;
  // Every field is walked, not just up to "events", so a broken or truncated
  // document is still caught after the array.
  for (auto field_result : root) {
    ondemand::field field;
    if (std::move(field_result).get(field)) return {InsertBodyError::invalid_json};
    std::string_view key;
    if (field.unescaped_key().get(key)) return {InsertBodyError::invalid_json};
    if (seen_events || key != "events") continue;  // an unread value is skipped
    seen_events = true;
    ondemand::array events;
    if (auto error = field.value().get_array().get(events)) {
      return {type_error(error, InsertBodyError::no_events_array)};
    }
    std::size_t index = 0;
    for (auto element : events) {
      ondemand::value value;
      if (std::move(element).get(value)) return {InsertBodyError::invalid_json};
      if (auto error = read_event_id(value, ids, assigned); error != InsertBodyError::none) {
        return {error, index};
      }
      ++index;
    }
  }
  if (!seen_events) return {InsertBodyError::no_events_array};
  // At the end of the root object, anything but the end of input is trailing garbage.
  if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) return {InsertBodyError::invalid_json};
  return {};
}

}  // namespace spanline::fakeapi::detail
