#include "otlp/otlp_decode.hpp"

namespace spanline::otlp {

std::optional<DecodeError> decode_otlp_request(std::string_view body, Encoding encoding, Traces& out) {
  if (encoding == Encoding::protobuf) return decode_protobuf(body, out);  // overwrites `out` in place
  out.clear();
  return decode_json(body, out);
}

}  // namespace spanline::otlp
