#include "otlp/otlp_mapping.hpp"

#include <simdjson.h>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

#include "otlp/otlp_json_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

namespace spanline::otlp {

namespace json = boost::json;

std::string_view to_string(SpanRejection rejection) {
  switch (rejection) {
    case SpanRejection::invalid_trace_id:
      return "invalid_trace_id";
    case SpanRejection::invalid_span_id:
      return "invalid_span_id";
    case SpanRejection::invalid_parent_span_id:
      return "invalid_parent_span_id";
    case SpanRejection::invalid_start_time:
      return "invalid_start_time";
    case SpanRejection::end_before_start:
      return "end_before_start";
    case SpanRejection::too_large:
      return "too_large";
    case SpanRejection::too_deep:
      return "too_deep";
    case SpanRejection::invalid_utf8:
      return "invalid_utf8";
    case SpanRejection::not_accepted:
      return "not_accepted";
  }
  return "unknown";
}

namespace {

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

}  // namespace

std::optional<SpanRejection> validate_span(const Span& span) {
  if (span.trace_id_not_hex || span.trace_id.size() != 16 || all_zero(span.trace_id))
    return SpanRejection::invalid_trace_id;
  if (span.span_id_not_hex || span.span_id.size() != 8 || all_zero(span.span_id))
    return SpanRejection::invalid_span_id;
  if (span.parent_span_id_not_hex || (!span.parent_span_id.empty() && span.parent_span_id.size() != 8))
    return SpanRejection::invalid_parent_span_id;
  if (span.start_time_unix_nano == 0) return SpanRejection::invalid_start_time;
  // An end time of zero means the exporter sent none: the row gets no metrics.end.
  if (span.end_time_unix_nano != 0 && span.end_time_unix_nano < span.start_time_unix_nano)
    return SpanRejection::end_before_start;
  return std::nullopt;
}

namespace {

// Writes 2 * bytes.size() lower-case hex digits at `out`.
void write_hex(char* out, std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    *out++ = kDigits[byte >> 4];
    *out++ = kDigits[byte & 0xF];
  }
}

}  // namespace

void append_hex(std::string& out, std::string_view bytes) {
  const std::size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  write_hex(out.data() + at, bytes);
}

std::string row_id(const Span& span) {
  std::string id;
  id.reserve(49);
  append_hex(id, span.trace_id);
  id += '-';
  append_hex(id, span.span_id);
  return id;
}

namespace {

// ---- the mapping table ----------------------------------------------------------------

// The row fields an attribute can set.
enum class Field : std::uint8_t { input, output, expected, metadata, metrics, scores, tags, span_attributes };
inline constexpr std::size_t kFieldCount = 8;

enum class Action : std::uint8_t {
  value,          // the attribute's value becomes the field (strings stay strings)
  json_text,      // a string holding JSON, parsed; not JSON: metadata[key] keeps the string
  messages,       // parsed when the string is JSON, else the string itself
  flattened,      // "<rule key><path>": the value lands at that path inside the field
  count,          // a whole number becomes metrics[name]; anything else stays in metadata
  model,          // metadata.model, without a provider prefix ("openai/gpt-4o" -> "gpt-4o")
  request_param,  // gen_ai.request.<x> -> metadata.<x>
  span_type,      // gen_ai.operation.name -> span_attributes.type through kOperationTypes
  braintrust,     // braintrust.<field>[_json][.<path>]
};

struct Rule {
  std::string_view key;
  bool prefix;  // key is a prefix (ends in '.') rather than the whole attribute name
  Action action;
  Field field = Field::metadata;
  // Several attributes can set one field: the highest priority wins, whatever the
  // order they came in (braintrust.* 3, semantic-convention messages 2, legacy 1, events 0).
  int priority = 0;
  std::string_view name = {};  // metric name
};

constexpr Rule kRules[] = {
    {"gen_ai.input.messages", false, Action::messages, Field::input, 2},
    {"gen_ai.prompt_json", false, Action::json_text, Field::input, 1},
    {"gen_ai.prompt", false, Action::value, Field::input, 1},
    {"gen_ai.prompt.", true, Action::flattened, Field::input, 1},
    {"gen_ai.output.messages", false, Action::messages, Field::output, 2},
    {"gen_ai.completion_json", false, Action::json_text, Field::output, 1},
    {"gen_ai.completion", false, Action::value, Field::output, 1},
    {"gen_ai.completion.", true, Action::flattened, Field::output, 1},
    {"gen_ai.usage.input_tokens", false, Action::count, Field::metrics, 0, "prompt_tokens"},
    {"gen_ai.usage.prompt_tokens", false, Action::count, Field::metrics, 0, "prompt_tokens"},
    {"gen_ai.usage.output_tokens", false, Action::count, Field::metrics, 0, "completion_tokens"},
    {"gen_ai.usage.completion_tokens", false, Action::count, Field::metrics, 0, "completion_tokens"},
    {"gen_ai.usage.total_tokens", false, Action::count, Field::metrics, 0, "tokens"},
    {"gen_ai.request.model", false, Action::model, Field::metadata},
    {"gen_ai.request.", true, Action::request_param, Field::metadata},
    {"gen_ai.operation.name", false, Action::span_type, Field::span_attributes},
    {"braintrust.", true, Action::braintrust, Field::metadata, 3},
};

// gen_ai.operation.name values (OpenTelemetry GenAI semantic conventions) and the
// Braintrust span type each one means; other values set no type.
constexpr std::pair<std::string_view, std::string_view> kOperationTypes[] = {
    {"chat", "llm"},          {"text_completion", "llm"}, {"generate_content", "llm"}, {"embeddings", "llm"},
    {"execute_tool", "tool"}, {"invoke_agent", "task"},   {"create_agent", "task"},
};

// braintrust.<name>: which field it sets, and whether it must be an object (merged into
// the field) rather than any value (replacing it).
struct BraintrustField {
  std::string_view name;
  Field field;
  bool object;
};
constexpr BraintrustField kBraintrustFields[] = {
    {"input", Field::input, false},       {"output", Field::output, false},
    {"expected", Field::expected, false}, {"metadata", Field::metadata, true},
    {"metrics", Field::metrics, true},    {"scores", Field::scores, true},
    {"tags", Field::tags, false},         {"span_attributes", Field::span_attributes, true},
};

// Span events folded into input or output (when no attribute set that field), and the
// role their message gets.
struct EventRule {
  std::string_view name;
  Field field;
  std::string_view role;  // empty: gen_ai.choice, whose attributes are the choice itself
};
constexpr EventRule kEventRules[] = {
    {"gen_ai.system.message", Field::input, "system"},
    {"gen_ai.user.message", Field::input, "user"},
    {"gen_ai.tool.message", Field::input, "tool"},
    {"gen_ai.assistant.message", Field::output, "assistant"},
    {"gen_ai.choice", Field::output, ""},
};

constexpr std::string_view kResourcePrefix = "resource.";

const Rule* find_rule(std::string_view key) {
  // Most attributes are neither gen_ai.* nor braintrust.*: one comparison sends them to metadata.
  if (key.empty() || (key[0] != 'g' && key[0] != 'b')) return nullptr;
  for (const Rule& rule : kRules) {
    if (rule.prefix ? (key.size() > rule.key.size() && key.substr(0, rule.key.size()) == rule.key)
                    : key == rule.key)
      return &rule;
  }
  return nullptr;
}

// ---- values -----------------------------------------------------------------------------

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                            (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (i + 1 < bytes.size()) n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
}

json::value to_json(const AnyValue& any, const json::storage_ptr& sp) {
  switch (any.type) {
    case AnyValue::Type::empty:
      return json::value(nullptr, sp);
    case AnyValue::Type::string:
      return json::value(json::string_view(any.text), sp);
    case AnyValue::Type::boolean:
      return json::value(any.boolean, sp);
    case AnyValue::Type::integer:
      return json::value(any.integer, sp);
    case AnyValue::Type::floating:
      // JSON has no NaN or infinity: they are kept as the strings OTLP/JSON spells them.
      if (std::isnan(any.floating)) return json::value("NaN", sp);
      if (std::isinf(any.floating)) return json::value(any.floating > 0 ? "Infinity" : "-Infinity", sp);
      return json::value(any.floating, sp);
    case AnyValue::Type::bytes: {
      std::string encoded;
      append_base64(encoded, any.text);
      return json::value(json::string_view(encoded), sp);
    }
    case AnyValue::Type::array: {
      json::array array(sp);
      array.reserve(any.array.size());
      for (const AnyValue& item : any.array) array.push_back(to_json(item, sp));
      return array;
    }
    case AnyValue::Type::kvlist: {
      json::object object(sp);
      object.reserve(any.kvlist.size());
      for (const KeyValue& kv : any.kvlist) object.insert_or_assign(kv.key, to_json(kv.value, sp));
      return object;
    }
  }
  return json::value(nullptr, sp);
}

std::optional<json::value> parse_json(std::string_view text, const json::storage_ptr& sp) {
  // One parser per thread: json::parse() builds a fresh one, whose working stack is a
  // malloc and a free for every nested value parsed. Depth is bounded by parse_options'
  // default (32).
  thread_local json::parser parser;
  boost::system::error_code ec;
  parser.reset(sp);
  parser.write(text.data(), text.size(), ec);
  if (ec) {
    // The values parsed so far live in `sp`'s arena, which ends with this row: they are
    // destroyed now, not at the next reset().
    parser.reset();
    return std::nullopt;
  }
  return parser.release();
}

// Whether `text` is one JSON value. simdjson's DOM parser (runtime-dispatched SIMD kernels),
// one per thread: a value that only has to be copied into the row is validated, not built.
bool is_json(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  // As deep as boost::json's default for the values that are rebuilt (32 levels): deeper
  // JSON is kept as text, in metadata, rather than refusing the whole span as too deep.
  thread_local const bool depth_set = parser.allocate(4096, 32) == simdjson::SUCCESS;
  if (!depth_set) return false;
  simdjson::dom::element ignored;
  return parser.parse(text.data(), text.size()).get(ignored) == simdjson::SUCCESS;
}

// A string that holds a JSON object or array, parsed; anything else converted as it is.
json::value structured_or_as_is(const AnyValue& any, const json::storage_ptr& sp) {
  if (any.type == AnyValue::Type::string && !any.text.empty() && (any.text[0] == '{' || any.text[0] == '[')) {
    if (auto parsed = parse_json(any.text, sp)) return std::move(*parsed);
  }
  return to_json(any, sp);
}

// Objects whose keys are all 0..n-1 (what a flattened path like input.0.role builds)
// become arrays, recursively.
void arrays_from_indices(json::value& value) {
  if (!value.is_object()) return;
  json::object& object = value.get_object();
  for (auto& member : object) arrays_from_indices(member.value());
  if (object.empty()) return;
  std::vector<json::value*> slots(object.size(), nullptr);
  for (auto& member : object) {
    const std::string_view key = member.key();
    std::size_t index = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
    if (ec != std::errc() || end != key.data() + key.size() || index >= slots.size() ||
        slots[index] != nullptr)
      return;
    slots[index] = &member.value();
  }
  json::array array(value.storage());
  array.reserve(slots.size());
  for (json::value* slot : slots) array.push_back(std::move(*slot));
  value = std::move(array);
}

// Sets `path` ("a.b.c") inside `root` (made an object if it is not), replacing non-objects
// on the way.
// Paths deeper than kMaxPathSegments keep their rest as one key: an attribute name with a
// million dots must not become a million nested objects (arrays_from_indices recurses).
constexpr int kMaxPathSegments = 32;

void set_path(json::value& root, std::string_view path, json::value leaf) {
  json::value* at = &root;
  for (int level = 1;; ++level) {
    if (!at->is_object()) *at = json::object(root.storage());
    const std::size_t dot = level < kMaxPathSegments ? path.find('.') : std::string_view::npos;
    const std::string_view segment = path.substr(0, dot);
    json::value& next = at->get_object()[segment];
    if (dot == std::string_view::npos) {
      next = std::move(leaf);
      return;
    }
    at = &next;
    path.remove_prefix(dot + 1);
  }
}

void merge_into(json::object& target, json::object& source) {
  for (auto& member : source) target.insert_or_assign(member.key(), std::move(member.value()));
}

// ---- the row being built ----------------------------------------------------------------

// A value the row will carry, kept as a reference to where it already lives (the span's
// attribute, the span's name, a fixed string, a tree in the row's arena) until the row is
// written: most values are copied once, from the decoded span into the row's text, with no
// JSON tree in between. Only what has to be restructured (flattened paths, braintrust.*
// objects, span events, parsed _json values) is built as a boost::json tree.
struct Value {
  enum class Kind : std::uint8_t { attribute, text, integer, floating, raw, tree };
  Kind kind = Kind::text;
  const AnyValue* attribute = nullptr;  // attribute: written as to_json converts it
  std::string_view text;                // text: a string's content; raw: valid JSON text
  std::int64_t integer = 0;
  double floating = 0;
  const json::value* tree = nullptr;

  static Value of(const AnyValue& any) { return {.kind = Kind::attribute, .attribute = &any}; }
  static Value of_text(std::string_view text) { return {.kind = Kind::text, .text = text}; }
  static Value of_raw(std::string_view json) { return {.kind = Kind::raw, .text = json}; }
  static Value of_tree(const json::value& tree) { return {.kind = Kind::tree, .tree = &tree}; }
  static Value of_seconds(std::uint64_t nanos) {
    // Whole seconds and the fraction apart: one division of the full count would lose
    // the sub-microsecond digits a double can still hold for the fraction.
    return {.kind = Kind::floating,
            .floating = static_cast<double>(nanos / 1'000'000'000u) +
                        static_cast<double>(nanos % 1'000'000'000u) / 1e9};
  }
  // Token counts are integers in the insert API, and some SDKs send them as doubles:
  // 250.0 is the count 250, while 2.5 (or a value beyond int64) is not a count at all.
  static std::optional<Value> whole_number(const AnyValue& any) {
    if (any.type == AnyValue::Type::integer) return Value{.kind = Kind::integer, .integer = any.integer};
    constexpr double kInt64Bound = 9223372036854775808.0;  // 2^63
    if (any.type == AnyValue::Type::floating && std::trunc(any.floating) == any.floating &&
        any.floating >= -kInt64Bound && any.floating < kInt64Bound)
      return Value{.kind = Kind::integer, .integer = static_cast<std::int64_t>(any.floating)};
    return std::nullopt;
  }
};

// An object's members in insertion order, with json::object's insert_or_assign semantics
// (a key set again keeps its place and takes the new value), so rows keep the member order
// the boost::json tree gave them.
class Members {
 public:
  struct Member {
    std::string_view key;
    Value value;
  };

  void clear() {
    members_.clear();
    if (!index_.empty()) index_ = {};  // clear() would zero every bucket of a past large span
  }
  bool empty() const { return members_.empty(); }
  const std::vector<Member>& members() const { return members_; }

  void insert_or_assign(std::string_view key, const Value& value) {
    if (Member* existing = find(key)) {
      existing->value = value;
      return;
    }
    members_.push_back({key, value});
    if (!index_.empty()) {
      index_.emplace(key, members_.size() - 1);
    } else if (members_.size() > kScanned) {
      for (std::size_t i = 0; i < members_.size(); ++i) index_.emplace(members_[i].key, i);
    }
  }

 private:
  // A span has a few dozen attributes at most in practice; past that a hash index keeps a
  // span with many thousands from costing a quadratic scan.
  static constexpr std::size_t kScanned = 32;

  Member* find(std::string_view key) {
    if (!index_.empty()) {
      const auto it = index_.find(key);
      return it == index_.end() ? nullptr : &members_[it->second];
    }
    for (Member& member : members_) {
      if (member.key == key) return &member;
    }
    return nullptr;
  }

  std::vector<Member> members_;
  std::unordered_map<std::string_view, std::size_t> index_;
};

// The row's text and the deepest nesting it may reach, for ingest's depth limit. The event
// object is level 1, a field's object or array level 2, and so on.
struct RowText {
  std::string& out;
  std::size_t depth_bound = 1;

  void reach(std::size_t level) { depth_bound = std::max(depth_bound, level); }
};

// Deepest container level inside `value`, which sits at `level`.
std::size_t tree_depth(const json::value& value, std::size_t level) {
  std::size_t deepest = level - 1;
  if (value.is_array()) {
    deepest = level;
    for (const json::value& item : value.get_array())
      deepest = std::max(deepest, tree_depth(item, level + 1));
  } else if (value.is_object()) {
    deepest = level;
    for (const auto& member : value.get_object())
      deepest = std::max(deepest, tree_depth(member.value(), level + 1));
  }
  return deepest;
}

// Serializes straight into `out`: no intermediate string.
void append_tree(std::string& out, const json::value& value) {
  thread_local json::serializer serializer;  // keeps its working stack between rows
  serializer.reset(&value);
  while (!serializer.done()) {
    const std::size_t at = out.size();
    out.resize(at + 4096);
    const std::size_t written = serializer.read(out.data() + at, 4096).size();
    out.resize(at + written);
  }
}

// A kvlist with this many entries or fewer is checked for duplicate keys by comparing
// pairs; a longer one goes through a json::object, whose index does that.
constexpr std::size_t kKvlistScanned = 16;

// Writes `any` as to_json(any) would serialize, without building it. `level`: where a
// container value would sit.
void write_attribute(RowText& row, const AnyValue& any, std::size_t level) {
  std::string& out = row.out;
  switch (any.type) {
    case AnyValue::Type::empty:
      out += "null";
      return;
    case AnyValue::Type::string:
      return append_json_string(out, any.text);
    case AnyValue::Type::boolean:
      out += any.boolean ? "true" : "false";
      return;
    case AnyValue::Type::integer:
      return append_json_integer(out, any.integer);
    case AnyValue::Type::floating:
      // JSON has no NaN or infinity: they are kept as the strings OTLP/JSON spells them.
      if (std::isnan(any.floating)) {
        out += R"("NaN")";
      } else if (std::isinf(any.floating)) {
        out += any.floating > 0 ? R"("Infinity")" : R"("-Infinity")";
      } else {
        append_json_double(out, any.floating);
      }
      return;
    case AnyValue::Type::bytes:
      out += '"';
      append_base64(out, any.text);  // nothing in base64 needs escaping
      out += '"';
      return;
    case AnyValue::Type::array: {
      row.reach(level);
      out += '[';
      for (std::size_t i = 0; i < any.array.size(); ++i) {
        if (i > 0) out += ',';
        write_attribute(row, any.array[i], level + 1);
      }
      out += ']';
      return;
    }
    case AnyValue::Type::kvlist: {
      const std::vector<KeyValue>& entries = any.kvlist;
      if (entries.size() > kKvlistScanned) {
        json::monotonic_resource arena;  // on the heap: this function recurses
        const json::value tree = to_json(any, json::storage_ptr(&arena));
        row.reach(tree_depth(tree, level));
        return append_tree(out, tree);
      }
      // A key sent twice keeps its first place and takes its last value, as in json::object.
      row.reach(level);
      out += '{';
      bool first = true;
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const std::string_view key = entries[i].key;
        bool seen = false;
        for (std::size_t j = 0; j < i && !seen; ++j) seen = entries[j].key == key;
        if (seen) continue;
        std::size_t last = i;
        for (std::size_t j = i + 1; j < entries.size(); ++j) {
          if (entries[j].key == key) last = j;
        }
        if (!first) out += ',';
        first = false;
        append_json_string(out, key);
        out += ':';
        write_attribute(row, entries[last].value, level + 1);
      }
      out += '}';
      return;
    }
  }
  out += "null";
}

// The deepest a string that is_json() accepted can nest (its parser's depth limit).
constexpr std::size_t kRawJsonDepth = 33;

void write_value(RowText& row, const Value& value, std::size_t level) {
  switch (value.kind) {
    case Value::Kind::attribute:
      return write_attribute(row, *value.attribute, level);
    case Value::Kind::text:
      return append_json_string(row.out, value.text);
    case Value::Kind::integer:
      return append_json_integer(row.out, value.integer);
    case Value::Kind::floating:
      return append_json_double(row.out, value.floating);
    case Value::Kind::raw:
      row.reach(level + kRawJsonDepth);
      row.out += value.text;
      return;
    case Value::Kind::tree:
      row.reach(tree_depth(*value.tree, level));
      return append_tree(row.out, *value.tree);
  }
}

void write_members(RowText& row, const Members& members, std::size_t level) {
  row.reach(level);
  row.out += '{';
  bool first = true;
  for (const Members::Member& member : members.members()) {
    if (!first) row.out += ',';
    first = false;
    append_json_string(row.out, member.key);
    row.out += ':';
    write_value(row, member.value, level + 1);
  }
  row.out += '}';
}

// Buffers one thread reuses from row to row.
struct RowScratch {
  std::array<Members, kFieldCount> conventional;

  void clear() {
    for (Members& members : conventional) members.clear();
  }
};

class RowBuilder {
 public:
  RowBuilder(const json::storage_ptr& sp, RowScratch& scratch)
      : sp_(sp), slots_{Slot(sp, scratch.conventional[0]), Slot(sp, scratch.conventional[1]),
                        Slot(sp, scratch.conventional[2]), Slot(sp, scratch.conventional[3]),
                        Slot(sp, scratch.conventional[4]), Slot(sp, scratch.conventional[5]),
                        Slot(sp, scratch.conventional[6]), Slot(sp, scratch.conventional[7])} {
    scratch.clear();
  }

  void attribute(const KeyValue& kv, std::string_view provider) {
    const Rule* rule = find_rule(kv.key);
    if (rule == nullptr) return metadata(kv.key, Value::of(kv.value));
    switch (rule->action) {
      case Action::value:
        return offer(rule->field, rule->priority, Value::of(kv.value));
      case Action::messages:
        // A string holding JSON goes into the row as it is (validated, not rebuilt).
        if (kv.value.type == AnyValue::Type::string && !kv.value.text.empty() &&
            (kv.value.text[0] == '{' || kv.value.text[0] == '[') && is_json(kv.value.text))
          return offer(rule->field, rule->priority, Value::of_raw(kv.value.text));
        return offer(rule->field, rule->priority, Value::of(kv.value));
      case Action::json_text:
        return json_text(rule->field, rule->priority, kv);
      case Action::flattened:
        return offer_flat(rule->field, rule->priority, std::string_view(kv.key).substr(rule->key.size()),
                          to_json(kv.value, sp_));
      case Action::count:
        if (const auto count = Value::whole_number(kv.value)) {
          slot(Field::metrics).conventional.insert_or_assign(rule->name, *count);
          return;
        }
        return metadata(kv.key, Value::of(kv.value));
      case Action::model:
        return model(kv, provider);
      case Action::request_param:
        return metadata(std::string_view(kv.key).substr(rule->key.size()), Value::of(kv.value));
      case Action::span_type:
        return span_type(kv);
      case Action::braintrust:
        return braintrust(kv, std::string_view(kv.key).substr(rule->key.size()));
    }
  }

  void resource_attribute(const KeyValue& kv) {
    // The prefixed key lives in the row's arena, as long as the row's values.
    const std::size_t size = kResourcePrefix.size() + kv.key.size();
    char* key = static_cast<char*>(sp_->allocate(size, 1));
    std::memcpy(key, kResourcePrefix.data(), kResourcePrefix.size());
    std::memcpy(key + kResourcePrefix.size(), kv.key.data(), kv.key.size());
    metadata(std::string_view(key, size), Value::of(kv.value));
  }

  void events(const std::vector<SpanEvent>& events) {
    for (const SpanEvent& event : events) {
      const auto rule = std::find_if(std::begin(kEventRules), std::end(kEventRules),
                                     [&](const EventRule& r) { return r.name == event.name; });
      if (rule == std::end(kEventRules)) continue;
      Slot& target = slot(rule->field);
      if (target.priority > 0) continue;  // an attribute gave the field
      if (target.priority < 0 || target.whole.kind != Value::Kind::tree || !target.tree.is_array()) {
        target.priority = 0;
        target.tree = json::array(sp_);
        target.whole = Value::of_tree(target.tree);
      }
      json::object message(sp_);
      if (!rule->role.empty()) message["role"] = rule->role;
      for (const KeyValue& kv : event.attributes) {
        if (kv.key == "gen_ai.system" || kv.key == "gen_ai.provider.name") continue;
        message.insert_or_assign(kv.key, structured_or_as_is(kv.value, sp_));
      }
      target.tree.get_array().push_back(std::move(message));
    }
  }

  void error(const Span& span) {
    if (span.status_code != static_cast<std::int32_t>(StatusCode::error)) return;
    if (!span.status_message.empty()) {
      error_ = Value::of_text(span.status_message);
      return;
    }
    // No message in the status: the exception event describes it.
    for (const SpanEvent& event : span.events) {
      if (event.name != "exception") continue;
      std::string text;
      for (const KeyValue& kv : event.attributes) {
        if (kv.value.type != AnyValue::Type::string) continue;
        if (kv.key == "exception.type") text = kv.value.text + (text.empty() ? "" : ": " + text);
        if (kv.key == "exception.message") text += (text.empty() ? "" : ": ") + kv.value.text;
      }
      if (!text.empty()) {
        error_text_ = std::move(text);
        error_ = Value::of_text(error_text_);
        return;
      }
    }
    error_ = Value::of_text("error");
  }

  // Writes the event: the ids, times and fixed keys directly, then each field that is not
  // empty. Returns how deep the event may nest.
  std::size_t write(const Span& span, std::string& out) {
    char id[49];
    write_hex(id, span.trace_id);
    id[32] = '-';
    write_hex(id + 33, span.span_id);
    out += R"({"id":")";  // kRowIdOffset
    out.append(id, 49);
    out += R"(","span_id":")";
    out.append(id + 33, 16);
    out += R"(","root_span_id":")";
    out.append(id, 32);
    out += '"';
    if (!span.parent_span_id.empty() && !all_zero(span.parent_span_id)) {
      char parent[16];
      write_hex(parent, span.parent_span_id);
      out += R"(,"span_parents":[")";
      out.append(parent, 16);
      out += "\"]";
    }
    out += R"(,"created":")";
    append_iso8601(out, span.start_time_unix_nano);
    out += '"';
    RowText row{out};
    if (!span.parent_span_id.empty()) row.reach(2);  // span_parents, when written

    Slot& attributes = slot(Field::span_attributes);
    attributes.conventional.insert_or_assign("name", Value::of_text(span.name));
    if (!type_.empty()) attributes.conventional.insert_or_assign("type", Value::of_text(type_));
    Slot& metrics = slot(Field::metrics);
    metrics.conventional.insert_or_assign("start", Value::of_seconds(span.start_time_unix_nano));
    if (span.end_time_unix_nano != 0)
      metrics.conventional.insert_or_assign("end", Value::of_seconds(span.end_time_unix_nano));

    static constexpr std::pair<Field, std::string_view> kOrder[] = {
        {Field::span_attributes, "span_attributes"},
        {Field::input, "input"},
        {Field::output, "output"},
        {Field::expected, "expected"},
        {Field::metadata, "metadata"},
        {Field::metrics, "metrics"},
        {Field::scores, "scores"},
        {Field::tags, "tags"},
    };
    for (const auto& [field, name] : kOrder) {
      Slot& target = slot(field);
      const Content content = finish(target);
      if (content == Content::none) continue;
      out += ",\"";
      out += name;
      out += "\":";
      if (content == Content::members)
        write_members(row, target.conventional, 2);
      else
        write_value(row, target.whole, 2);
    }
    if (error_) {
      out += R"(,"error":)";
      write_value(row, *error_, 2);
    }
    out += '}';
    return row.depth_bound;
  }

 private:
  // Every json member allocates from the row's arena (a json container keeps the storage it
  // was built with, whatever is assigned to it later).
  struct Slot {
    Slot(const json::storage_ptr& sp, Members& members)
        : tree(sp), flat(sp), conventional(members), braintrust(sp) {}
    int priority = -1;  // of `whole`; -1: nothing offered
    Value whole;
    json::value tree;  // what `whole` points at when it is a tree the builder made
    int flat_priority = -1;
    json::value flat;         // built from flattened attributes
    Members& conventional;    // object fields: what the conventions set
    json::object braintrust;  // object fields: what braintrust.* set (wins over conventional)
  };

  Slot& slot(Field field) { return slots_[static_cast<std::size_t>(field)]; }

  void offer(Field field, int priority, const Value& value) {
    Slot& target = slot(field);
    if (priority <= target.priority) return;
    target.priority = priority;
    target.whole = value;
  }

  void offer_tree(Field field, int priority, json::value value) {
    Slot& target = slot(field);
    if (priority <= target.priority) return;
    target.priority = priority;
    target.tree = std::move(value);
    target.whole = Value::of_tree(target.tree);
  }

  void offer_flat(Field field, int priority, std::string_view path, json::value value) {
    Slot& target = slot(field);
    if (priority < target.flat_priority) return;
    if (priority > target.flat_priority) target.flat = json::value(sp_);
    target.flat_priority = priority;
    set_path(target.flat, path, std::move(value));
  }

  void metadata(std::string_view key, const Value& value) {
    slot(Field::metadata).conventional.insert_or_assign(key, value);
  }

  void json_text(Field field, int priority, const KeyValue& kv) {
    if (kv.value.type == AnyValue::Type::string && is_json(kv.value.text))
      return offer(field, priority, Value::of_raw(kv.value.text));
    // As Braintrust does: a _json value that is not JSON is kept, in metadata.
    metadata(kv.key, Value::of(kv.value));
  }

  void model(const KeyValue& kv, std::string_view provider) {
    if (kv.value.type == AnyValue::Type::string && !provider.empty()) {
      const std::string_view model = kv.value.text;
      if (model.size() > provider.size() + 1 && model.substr(0, provider.size()) == provider &&
          model[provider.size()] == '/')
        return metadata("model", Value::of_text(model.substr(provider.size() + 1)));
    }
    metadata("model", Value::of(kv.value));
  }

  void span_type(const KeyValue& kv) {
    if (kv.value.type == AnyValue::Type::string) {
      for (const auto& [operation, type] : kOperationTypes) {
        if (kv.value.text == operation) {
          type_ = type;
          return;
        }
      }
    }
    metadata(kv.key, Value::of(kv.value));  // an operation without a type stays visible
  }

  // `rest` is what follows "braintrust.": "<field>", "<field>_json" or "<field>.<path>".
  void braintrust(const KeyValue& kv, std::string_view rest) {
    for (const BraintrustField& known : kBraintrustFields) {
      if (rest.substr(0, known.name.size()) != known.name) continue;
      const std::string_view suffix = rest.substr(known.name.size());
      Slot& target = slot(known.field);
      if (suffix.empty() || suffix == "_json") {
        json::value value(sp_);
        if (suffix.empty()) {
          value = to_json(kv.value, sp_);
        } else if (kv.value.type != AnyValue::Type::string) {
          break;
        } else if (auto parsed = parse_json(kv.value.text, sp_)) {
          value = std::move(*parsed);
        } else {
          break;  // not JSON: metadata keeps the text
        }
        if (!known.object) {
          if (known.field == Field::tags && !value.is_array()) break;
          return offer_tree(known.field, 3, std::move(value));
        }
        if (!value.is_object()) break;
        merge_into(target.braintrust, value.get_object());
        return;
      }
      if (suffix.size() > 1 && suffix[0] == '.') {
        const std::string_view path = suffix.substr(1);
        if (known.object) {
          json::value holder(std::move(target.braintrust));
          set_path(holder, path, to_json(kv.value, sp_));
          target.braintrust = std::move(holder.get_object());
          return;
        }
        return offer_flat(known.field, 3, path, to_json(kv.value, sp_));
      }
    }
    metadata(kv.key, Value::of(kv.value));
  }

  // What the field holds once every attribute is in: nothing (the field is left out), one
  // value (`whole`) or an object of members (`conventional`, braintrust.* merged in).
  enum class Content : std::uint8_t { none, whole, members };
  Content finish(Slot& target) {
    if (target.flat_priority > target.priority) {
      arrays_from_indices(target.flat);
      target.whole = Value::of_tree(target.flat);
      return Content::whole;
    }
    if (target.priority >= 0) return Content::whole;
    if (target.conventional.empty() && target.braintrust.empty()) return Content::none;
    for (const auto& member : target.braintrust)
      target.conventional.insert_or_assign(member.key(), Value::of_tree(member.value()));
    return Content::members;
  }

  // "2023-11-14T22:13:20.123456Z". Digits written by hand: snprintf's format parsing
  // was 1.5% of decode + map.
  static void append_iso8601(std::string& out, std::uint64_t nanos) {
    using namespace std::chrono;
    const sys_time<microseconds> at{microseconds(nanos / 1000u)};
    const sys_days day = floor<days>(at);
    const year_month_day date(day);
    const hh_mm_ss<microseconds> time(at - day);
    char buffer[27];
    auto put = [&](std::size_t at, std::size_t width, long long value) {
      for (std::size_t i = width; i-- > 0; value /= 10) buffer[at + i] = static_cast<char>('0' + value % 10);
    };
    put(0, 4, static_cast<int>(date.year()));
    buffer[4] = '-';
    put(5, 2, static_cast<unsigned>(date.month()));
    buffer[7] = '-';
    put(8, 2, static_cast<unsigned>(date.day()));
    buffer[10] = 'T';
    put(11, 2, time.hours().count());
    buffer[13] = ':';
    put(14, 2, time.minutes().count());
    buffer[16] = ':';
    put(17, 2, time.seconds().count());
    buffer[19] = '.';
    put(20, 6, time.subseconds().count());
    buffer[26] = 'Z';
    out.append(buffer, sizeof(buffer));
  }

  json::storage_ptr sp_;
  std::array<Slot, kFieldCount> slots_;
  std::string_view type_;
  std::optional<Value> error_;
  std::string error_text_;
};

std::string_view provider_of(const Span& span) {
  for (const KeyValue& kv : span.attributes) {
    if ((kv.key == "gen_ai.provider.name" || kv.key == "gen_ai.system") &&
        kv.value.type == AnyValue::Type::string)
      return kv.value.text;
  }
  return {};
}

}  // namespace

MappedEvent map_span(const Traces& traces, const Span& span, std::string& out) {
  // Values that need a tree come from one arena, released at once when the row is written.
  alignas(16) std::array<unsigned char, 4096> buffer;
  json::monotonic_resource arena(buffer.data(), buffer.size());
  const json::storage_ptr sp(&arena);
  thread_local RowScratch scratch;
  RowBuilder builder(sp, scratch);
  if (span.resource_index < traces.resources.size()) {
    for (const KeyValue& kv : traces.resources[span.resource_index].attributes)
      builder.resource_attribute(kv);
  }
  const std::string_view provider = provider_of(span);
  for (const KeyValue& kv : span.attributes) builder.attribute(kv, provider);
  builder.events(span.events);
  builder.error(span);
  return MappedEvent{.depth_bound = builder.write(span, out)};
}

AnyValue AnyValue::of_string(std::string value) {
  AnyValue any;
  any.type = Type::string;
  any.text = std::move(value);
  return any;
}
AnyValue AnyValue::of_int(std::int64_t value) {
  AnyValue any;
  any.type = Type::integer;
  any.integer = value;
  return any;
}
AnyValue AnyValue::of_double(double value) {
  AnyValue any;
  any.type = Type::floating;
  any.floating = value;
  return any;
}
AnyValue AnyValue::of_bool(bool value) {
  AnyValue any;
  any.type = Type::boolean;
  any.boolean = value;
  return any;
}

}  // namespace spanline::otlp
