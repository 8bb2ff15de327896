#pragma once
// Fields: the payload of one event (input, output, scores, metadata, ...), written
// straight into compact JSON text as it is built, so logging copies nothing later.
//
//   spanline::Fields f;
//   f.string("input", prompt).json("output", R"({"text":"hi"})")
//    .scores({{"accuracy", 0.9}}).tags({"prod"}).metrics({{"tokens", 42}});
//
// Keys the logger writes itself (id, span_id, root_span_id, span_parents, created,
// span_attributes, _is_merge, _object_delete) are refused with std::invalid_argument.
// `metrics` is kept apart so spans can add metrics.start / metrics.end to it.
// A Fields object is a value: cheap to move, safe to reuse after clear().

#include <spanline/export.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace spanline {

class SPANLINE_API Fields {
 public:
  using NumberPair = std::pair<std::string_view, double>;
  using StringPair = std::pair<std::string_view, std::string_view>;

  Fields& string(std::string_view key, std::string_view value);
  Fields& number(std::string_view key, double value);
  Fields& integer(std::string_view key, std::int64_t value);
  Fields& boolean(std::string_view key, bool value);
  Fields& null(std::string_view key);
  // `json_text` must be one valid JSON value; it is validated (std::invalid_argument if not)
  // and stored compacted.
  Fields& json(std::string_view key, std::string_view json_text);
  // As json(), for text the caller guarantees is valid compact JSON (no validation cost).
  Fields& json_unchecked(std::string_view key, std::string_view json_text);
  Fields& object(std::string_view key, const Fields& nested);

  // Braintrust shapes: scores are numbers in [0,1] (std::invalid_argument otherwise),
  // metadata values are strings (use object("metadata", ...) for richer values),
  // tags are strings, metrics are numbers.
  Fields& scores(std::initializer_list<NumberPair> scores);
  Fields& metadata(std::initializer_list<StringPair> entries);
  Fields& tags(std::initializer_list<std::string_view> tags);
  Fields& metrics(std::initializer_list<NumberPair> metrics);
  Fields& metric(std::string_view name, double value);

  void clear();
  bool empty() const { return body_.empty() && metrics_.empty(); }

  // Compact JSON members without braces: `"input":"x","scores":{...}`.
  const std::string& body() const { return body_; }
  // Members of the metrics object without braces: `"tokens":42`.
  const std::string& metrics_body() const { return metrics_; }

 private:
  std::string& begin_member(std::string_view key);

  std::string body_;
  std::string metrics_;
};

namespace detail {
// Appends `value` as a JSON string literal (quotes and escapes) to `out`.
void append_json_string(std::string& out, std::string_view value);
// Appends a finite double in shortest round-trip form; NaN and infinities become null.
void append_json_number(std::string& out, double value);
}  // namespace detail

}  // namespace spanline
