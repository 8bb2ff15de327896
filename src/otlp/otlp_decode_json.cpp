#include "otlp/otlp_decode.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <limits>

namespace spanline::otlp {

namespace dom = simdjson::dom;

namespace {

// Deep enough for any real attribute value, shallow enough that the recursive conversion
// below cannot exhaust a thread's stack.
constexpr std::size_t kMaxDepth = 256;

// A wrong type somewhere: the message names the field's path ("resourceSpans[0].scopeSpans...").
struct JsonError {
  std::string message;
};

class Path {
 public:
  void push(std::string_view name) { parts_.emplace_back(name); }
  void push(std::string_view name, std::size_t index) {
    parts_.emplace_back(std::string(name) + "[" + std::to_string(index) + "]");
  }
  void pop() { parts_.pop_back(); }
  std::string text(std::string_view leaf) const {
    std::string out;
    for (const auto& part : parts_) {
      if (!out.empty()) out += '.';
      out += part;
    }
    if (!leaf.empty()) {
      if (!out.empty()) out += '.';
      out += leaf;
    }
    return out;
  }

 private:
  std::vector<std::string> parts_;
};

class Decoder {
 public:
  explicit Decoder(Traces& out) : out_(out) {}

  void request(dom::element root) {
    const dom::object object = expect_object(root, "");
    for (auto [key, value] : object) {
      if (key != "resourceSpans" || value.is_null()) continue;
      const dom::array array = expect_array(value, "resourceSpans");
      std::size_t i = 0;
      for (dom::element item : array) {
        path_.push("resourceSpans", i++);
        resource_spans(item);
        path_.pop();
      }
    }
  }

 private:
  [[noreturn]] void fail(std::string_view field, std::string_view problem) const {
    throw JsonError{(field.empty() && path_.text("").empty() ? std::string("body") : path_.text(field)) +
                    ": " + std::string(problem)};
  }

  dom::object expect_object(dom::element element, std::string_view field) const {
    dom::object object;
    if (element.get(object) != simdjson::SUCCESS) fail(field, "expected an object");
    return object;
  }
  dom::array expect_array(dom::element element, std::string_view field) const {
    dom::array array;
    if (element.get(array) != simdjson::SUCCESS) fail(field, "expected an array");
    return array;
  }
  std::string_view expect_string(dom::element element, std::string_view field) const {
    std::string_view text;
    if (element.get(text) != simdjson::SUCCESS) fail(field, "expected a string");
    return text;
  }

  // fixed64 times: a decimal string or a non-negative integer.
  std::uint64_t unsigned_integer(dom::element element, std::string_view field) const {
    std::uint64_t value = 0;
    if (element.is_string()) {
      const std::string_view text = element.get_string().value_unsafe();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        fail(field, "expected an unsigned 64-bit integer");
      return value;
    }
    if (element.get(value) != simdjson::SUCCESS) fail(field, "expected an unsigned 64-bit integer");
    return value;
  }

  std::int64_t signed_integer(dom::element element, std::string_view field) const {
    std::int64_t value = 0;
    if (element.is_string()) {
      const std::string_view text = element.get_string().value_unsafe();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        fail(field, "expected a 64-bit integer");
      return value;
    }
    if (element.get(value) != simdjson::SUCCESS) fail(field, "expected a 64-bit integer");
    return value;
  }

  double floating(dom::element element, std::string_view field) const {
    if (element.is_string()) {
      const std::string_view text = element.get_string().value_unsafe();
      if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (text == "Infinity") return std::numeric_limits<double>::infinity();
      if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
      double value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        fail(field, "expected a number");
      return value;
    }
    double value = 0;
    if (element.get(value) != simdjson::SUCCESS) fail(field, "expected a number");
    return value;
  }

  // Enums: their number, or their name from `names` (index = value).
  template <std::size_t N>
  std::int32_t enumeration(dom::element element, std::string_view field,
                           const std::array<std::string_view, N>& names) const {
    if (element.is_string()) {
      const std::string_view text = element.get_string().value_unsafe();
      for (std::size_t i = 0; i < N; ++i) {
        if (names[i] == text) return static_cast<std::int32_t>(i);
      }
      fail(field, "unknown enum value name");
    }
    std::int64_t value = 0;
    if (element.get(value) != simdjson::SUCCESS || value < std::numeric_limits<std::int32_t>::min() ||
        value > std::numeric_limits<std::int32_t>::max())
      fail(field, "expected an enum number or name");
    return static_cast<std::int32_t>(value);
  }

  // Ids: hex (either case). Text that is not hex marks the span, which is refused alone.
  static bool hex_id(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 2 != 0) return false;
    out.reserve(text.size() / 2);
    auto digit = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    for (std::size_t i = 0; i < text.size(); i += 2) {
      const int high = digit(text[i]);
      const int low = digit(text[i + 1]);
      if (high < 0 || low < 0) {
        out.clear();
        return false;
      }
      out += static_cast<char>((high << 4) | low);
    }
    return true;
  }

  // bytesValue: base64, standard or URL-safe alphabet, padding optional.
  static bool base64(std::string_view text, std::string& out) {
    auto digit = [](char c) -> int {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      if (c == '+' || c == '-') return 62;
      if (c == '/' || c == '_') return 63;
      return -1;
    };
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    if (text.size() % 4 == 1) return false;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
      const int value = digit(c);
      if (value < 0) return false;
      bits = (bits << 6) | static_cast<std::uint32_t>(value);
      count += 6;
      if (count >= 8) {
        count -= 8;
        out += static_cast<char>((bits >> count) & 0xFF);
      }
    }
    return true;
  }

  void resource_spans(dom::element element) {
    const auto resource_index = static_cast<std::uint32_t>(out_.resources.size());
    out_.resources.emplace_back();
    for (auto [key, value] : expect_object(element, "")) {
      if (value.is_null()) continue;
      if (key == "resource") {
        for (auto [rkey, rvalue] : expect_object(value, "resource")) {
          if (rkey == "attributes" && !rvalue.is_null()) {
            path_.push("resource");
            key_values(rvalue, "attributes", out_.resources[resource_index].attributes);
            path_.pop();
          }
        }
      } else if (key == "scopeSpans") {
        std::size_t i = 0;
        for (dom::element item : expect_array(value, "scopeSpans")) {
          path_.push("scopeSpans", i++);
          scope_spans(item, resource_index);
          path_.pop();
        }
      }
    }
  }

  void scope_spans(dom::element element, std::uint32_t resource_index) {
    const auto scope_index = static_cast<std::uint32_t>(out_.scopes.size());
    out_.scopes.emplace_back();
    for (auto [key, value] : expect_object(element, "")) {
      if (value.is_null()) continue;
      if (key == "scope") {
        for (auto [skey, svalue] : expect_object(value, "scope")) {
          if (svalue.is_null()) continue;
          if (skey == "name") out_.scopes[scope_index].name = expect_string(svalue, "scope.name");
          if (skey == "version") out_.scopes[scope_index].version = expect_string(svalue, "scope.version");
        }
      } else if (key == "spans") {
        std::size_t i = 0;
        for (dom::element item : expect_array(value, "spans")) {
          path_.push("spans", i++);
          span(item, resource_index, scope_index);
          path_.pop();
        }
      }
    }
  }

  void span(dom::element element, std::uint32_t resource_index, std::uint32_t scope_index) {
    static constexpr std::array<std::string_view, 6> kKinds = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                                               "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                                               "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
    Span& span = out_.spans.emplace_back();
    span.resource_index = resource_index;
    span.scope_index = scope_index;
    for (auto [key, value] : expect_object(element, "")) {
      if (value.is_null()) continue;
      if (key == "traceId") {
        span.trace_id_not_hex = !hex_id(expect_string(value, key), span.trace_id);
      } else if (key == "spanId") {
        span.span_id_not_hex = !hex_id(expect_string(value, key), span.span_id);
      } else if (key == "parentSpanId") {
        span.parent_span_id_not_hex = !hex_id(expect_string(value, key), span.parent_span_id);
      } else if (key == "name") {
        span.name = expect_string(value, key);
      } else if (key == "kind") {
        span.kind = enumeration(value, key, kKinds);
      } else if (key == "startTimeUnixNano") {
        span.start_time_unix_nano = unsigned_integer(value, key);
      } else if (key == "endTimeUnixNano") {
        span.end_time_unix_nano = unsigned_integer(value, key);
      } else if (key == "attributes") {
        key_values(value, "attributes", span.attributes);
      } else if (key == "events") {
        std::size_t i = 0;
        for (dom::element item : expect_array(value, key)) {
          path_.push("events", i++);
          event(item, span.events.emplace_back());
          path_.pop();
        }
      } else if (key == "status") {
        status(value, span);
      }
    }
  }

  void event(dom::element element, SpanEvent& event) {
    for (auto [key, value] : expect_object(element, "")) {
      if (value.is_null()) continue;
      if (key == "name") event.name = expect_string(value, key);
      if (key == "timeUnixNano") event.time_unix_nano = unsigned_integer(value, key);
      if (key == "attributes") key_values(value, "attributes", event.attributes);
    }
  }

  void status(dom::element element, Span& span) {
    static constexpr std::array<std::string_view, 3> kCodes = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                                               "STATUS_CODE_ERROR"};
    for (auto [key, value] : expect_object(element, "status")) {
      if (value.is_null()) continue;
      if (key == "code") span.status_code = enumeration(value, "status.code", kCodes);
      if (key == "message") span.status_message = expect_string(value, "status.message");
    }
  }

  void key_values(dom::element element, std::string_view field, std::vector<KeyValue>& out) {
    std::size_t i = 0;
    for (dom::element item : expect_array(element, field)) {
      path_.push(field, i++);
      KeyValue& kv = out.emplace_back();
      for (auto [key, value] : expect_object(item, "")) {
        if (value.is_null()) continue;
        if (key == "key") kv.key = expect_string(value, "key");
        if (key == "value") {
          path_.push("value");
          any_value(value, kv.value);
          path_.pop();
        }
      }
      path_.pop();
    }
  }

  void any_value(dom::element element, AnyValue& out) {
    for (auto [key, value] : expect_object(element, "")) {
      if (value.is_null()) continue;
      if (key == "stringValue") {
        out.type = AnyValue::Type::string;
        out.text = expect_string(value, key);
      } else if (key == "boolValue") {
        bool flag = false;
        if (value.get(flag) != simdjson::SUCCESS) fail(key, "expected a boolean");
        out.type = AnyValue::Type::boolean;
        out.boolean = flag;
      } else if (key == "intValue") {
        out.type = AnyValue::Type::integer;
        out.integer = signed_integer(value, key);
      } else if (key == "doubleValue") {
        out.type = AnyValue::Type::floating;
        out.floating = floating(value, key);
      } else if (key == "bytesValue") {
        out.type = AnyValue::Type::bytes;
        out.text.clear();
        if (!base64(expect_string(value, key), out.text)) fail(key, "expected base64");
      } else if (key == "arrayValue") {
        out.type = AnyValue::Type::array;
        for (auto [akey, avalue] : expect_object(value, key)) {
          if (akey != "values" || avalue.is_null()) continue;
          std::size_t i = 0;
          for (dom::element item : expect_array(avalue, "arrayValue.values")) {
            path_.push("arrayValue.values", i++);
            any_value(item, out.array.emplace_back());
            path_.pop();
          }
        }
      } else if (key == "kvlistValue") {
        out.type = AnyValue::Type::kvlist;
        for (auto [kkey, kvalue] : expect_object(value, key)) {
          if (kkey != "values" || kvalue.is_null()) continue;
          path_.push("kvlistValue");
          key_values(kvalue, "values", out.kvlist);
          path_.pop();
        }
      }
    }
  }

  Traces& out_;
  Path path_;
};

}  // namespace

std::optional<DecodeError> decode_json(std::string_view body, Traces& out) {
  thread_local dom::parser parser;
  thread_local bool allocated = false;
  if (!allocated || parser.capacity() < body.size()) {
    if (parser.allocate(std::max<std::size_t>(body.size(), 64 * 1024), kMaxDepth) != simdjson::SUCCESS)
      return DecodeError{"body too large to parse"};
    allocated = true;
  }
  dom::element root;
  const auto error = parser.parse(body.data(), body.size()).get(root);
  if (error != simdjson::SUCCESS)
    return DecodeError{std::string("body is not valid JSON: ") + simdjson::error_message(error)};
  try {
    Decoder(out).request(root);
  } catch (const JsonError& e) {
    return DecodeError{e.message};
  }
  return std::nullopt;
}

}  // namespace spanline::otlp
