#include "otlp/otlp_decode.hpp"

namespace spanline::otlp {

std::optional<DecodeError> decode_otlp_request(std::string_view body, Encoding encoding, Traces& out) {
  out.clear();
  return encoding == Encoding::protobuf ? decode_protobuf(body, out) : decode_json(body, out);
}

}  // namespace spanline::otlp
