#pragma once
// Appends JSON scalars to a string, written exactly as boost::json's serializer writes
// them: strings with the same escapes ('"', '\\', and control characters as \b \t \n \f \r
// or \u00xx; everything else, including bytes >= 0x80, as it is), integers in decimal,
// doubles in their shortest round-trip form with boost's exponent spelling ("1.5E0",
// "1E21", "5E-324"). The OTLP mapping writes most of a row with these and the rest through
// boost::json; a row must not depend on which of the two wrote a value.
//
// Thread safety: free functions without state.

#include <cstdint>
#include <string>
#include <string_view>

namespace spanline::otlp {

// `text` between quotes, escaped. Bytes are copied as they are: invalid UTF-8 stays invalid
// (ingest's UTF-8 check sees it).
void append_json_string(std::string& out, std::string_view text);

void append_json_integer(std::string& out, std::int64_t value);

// `value` must be finite (JSON has no NaN or infinity).
void append_json_double(std::string& out, double value);

}  // namespace spanline::otlp
