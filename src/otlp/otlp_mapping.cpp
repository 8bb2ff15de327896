#include "otlp/otlp_mapping.hpp"

#include <simdjson.h>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <span>

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
  metric,         // a number becomes metrics[name]; anything else stays in metadata
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
    {"gen_ai.usage.input_tokens", false, Action::metric, Field::metrics, 0, "prompt_tokens"},
    {"gen_ai.usage.prompt_tokens", false, Action::metric, Field::metrics, 0, "prompt_tokens"},
    {"gen_ai.usage.output_tokens", false, Action::metric, Field::metrics, 0, "completion_tokens"},
    {"gen_ai.usage.completion_tokens", false, Action::metric, Field::metrics, 0, "completion_tokens"},
    {"gen_ai.usage.total_tokens", false, Action::metric, Field::metrics, 0, "tokens"},
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

std::optional<json::value> as_number(const AnyValue& any, const json::storage_ptr& sp) {
  if (any.type == AnyValue::Type::integer) return json::value(any.integer, sp);
  if (any.type == AnyValue::Type::floating && std::isfinite(any.floating))
    return json::value(any.floating, sp);
  return std::nullopt;
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

class RowBuilder {
 public:
  explicit RowBuilder(const json::storage_ptr& sp)
      : sp_(sp), slots_{Slot(sp), Slot(sp), Slot(sp), Slot(sp), Slot(sp), Slot(sp), Slot(sp), Slot(sp)} {}

  void attribute(const KeyValue& kv, std::string_view provider) {
    const Rule* rule = find_rule(kv.key);
    if (rule == nullptr) return metadata(kv.key, to_json(kv.value, sp_));
    switch (rule->action) {
      case Action::value:
        return offer(rule->field, rule->priority, to_json(kv.value, sp_));
      case Action::messages:
        // A string holding JSON goes into the row as it is (validated, not rebuilt).
        if (kv.value.type == AnyValue::Type::string && !kv.value.text.empty() &&
            (kv.value.text[0] == '{' || kv.value.text[0] == '[') && is_json(kv.value.text))
          return offer_raw(rule->field, rule->priority, kv.value.text);
        return offer(rule->field, rule->priority, to_json(kv.value, sp_));
      case Action::json_text:
        return json_text(rule->field, rule->priority, kv);
      case Action::flattened:
        return offer_flat(rule->field, rule->priority, std::string_view(kv.key).substr(rule->key.size()),
                          to_json(kv.value, sp_));
      case Action::metric:
        if (auto number = as_number(kv.value, sp_)) {
          slot(Field::metrics).conventional.insert_or_assign(rule->name, std::move(*number));
          return;
        }
        return metadata(kv.key, to_json(kv.value, sp_));
      case Action::model:
        return model(kv, provider);
      case Action::request_param:
        return metadata(std::string_view(kv.key).substr(rule->key.size()), to_json(kv.value, sp_));
      case Action::span_type:
        return span_type(kv);
      case Action::braintrust:
        return braintrust(kv, std::string_view(kv.key).substr(rule->key.size()));
    }
  }

  void resource_attribute(const KeyValue& kv) {
    std::string key(kResourcePrefix);
    key += kv.key;
    metadata(key, to_json(kv.value, sp_));
  }

  void events(const std::vector<SpanEvent>& events) {
    for (const SpanEvent& event : events) {
      const auto rule = std::find_if(std::begin(kEventRules), std::end(kEventRules),
                                     [&](const EventRule& r) { return r.name == event.name; });
      if (rule == std::end(kEventRules)) continue;
      Slot& target = slot(rule->field);
      if (target.priority > 0) continue;  // an attribute gave the field
      if (target.priority < 0 || !target.whole.is_array()) {
        target.priority = 0;
        target.whole = json::array(sp_);
        target.raw = {};
      }
      json::object message(sp_);
      if (!rule->role.empty()) message["role"] = rule->role;
      for (const KeyValue& kv : event.attributes) {
        if (kv.key == "gen_ai.system" || kv.key == "gen_ai.provider.name") continue;
        message.insert_or_assign(kv.key, structured_or_as_is(kv.value, sp_));
      }
      target.whole.get_array().push_back(std::move(message));
    }
  }

  // Writes the event. Fields that ended up empty are left out.
  // Writes the row's members one by one: the ids, times and fixed keys directly, each
  // field's value from its JSON tree or, for JSON an attribute carried, as that text.
  void write(const Span& span, std::string& out) {
    char id[49];
    write_hex(id, span.trace_id);
    id[32] = '-';
    write_hex(id + 33, span.span_id);
    out += R"({"id":")";
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

    Slot& attributes = slot(Field::span_attributes);
    attributes.conventional.insert_or_assign("name", json::string_view(span.name));
    if (!type_.empty()) attributes.conventional.insert_or_assign("type", type_);
    Slot& metrics = slot(Field::metrics);
    metrics.conventional.insert_or_assign("start", seconds(span.start_time_unix_nano));
    if (span.end_time_unix_nano != 0)
      metrics.conventional.insert_or_assign("end", seconds(span.end_time_unix_nano));

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
      const bool raw = target.priority >= target.flat_priority && target.priority >= 0 && !target.raw.empty();
      std::optional<json::value> value;
      if (!raw) {
        value = finish(target);
        if (!value) continue;
      }
      out += ",\"";
      out += name;
      out += "\":";
      if (raw)
        out += target.raw;
      else
        append_json(out, *value);
    }
    if (error_) {
      out += R"(,"error":)";
      append_json(out, *error_);
    }
    out += '}';
  }

  // Serializes straight into `out`: no intermediate string.
  static void append_json(std::string& out, const json::value& value) {
    thread_local json::serializer serializer;  // keeps its working stack between rows
    serializer.reset(&value);
    while (!serializer.done()) {
      const std::size_t at = out.size();
      out.resize(at + 4096);
      const std::size_t written = serializer.read(out.data() + at, 4096).size();
      out.resize(at + written);
    }
  }

  void error(const Span& span) {
    if (span.status_code != static_cast<std::int32_t>(StatusCode::error)) return;
    if (!span.status_message.empty()) {
      error_ = json::value(json::string_view(span.status_message), sp_);
      return;
    }
    // No message in the status: the exception event (semantic conventions) describes it.
    for (const SpanEvent& event : span.events) {
      if (event.name != "exception") continue;
      std::string text;
      for (const KeyValue& kv : event.attributes) {
        if (kv.value.type != AnyValue::Type::string) continue;
        if (kv.key == "exception.type") text = kv.value.text + (text.empty() ? "" : ": " + text);
        if (kv.key == "exception.message") text += (text.empty() ? "" : ": ") + kv.value.text;
      }
      if (!text.empty()) {
        error_ = json::value(json::string_view(text), sp_);
        return;
      }
    }
    error_ = json::value("error", sp_);
  }

 private:
  // Every member allocates from the row's arena (a json container keeps the storage it
  // was built with, whatever is assigned to it later).
  struct Slot {
    explicit Slot(const json::storage_ptr& sp) : whole(sp), flat(sp), conventional(sp), braintrust(sp) {}
    int priority = -1;  // of `whole` (or `raw`); -1: nothing offered
    json::value whole;
    std::string_view raw;  // valid JSON text standing for `whole` when not empty
    int flat_priority = -1;
    json::value flat;           // built from flattened attributes
    json::object conventional;  // object fields: what the conventions set
    json::object braintrust;    // object fields: what braintrust.* set (wins over conventional)
  };

  Slot& slot(Field field) { return slots_[static_cast<std::size_t>(field)]; }

  static bool is_object_field(Field field) {
    return field == Field::metadata || field == Field::metrics || field == Field::scores ||
           field == Field::span_attributes;
  }

  void offer(Field field, int priority, json::value value) {
    Slot& target = slot(field);
    if (priority <= target.priority) return;
    target.priority = priority;
    target.whole = std::move(value);
    target.raw = {};
  }

  // `text` is valid JSON and outlives the builder (it is the span's attribute).
  void offer_raw(Field field, int priority, std::string_view text) {
    Slot& target = slot(field);
    if (priority <= target.priority) return;
    target.priority = priority;
    target.raw = text;
  }

  void offer_flat(Field field, int priority, std::string_view path, json::value value) {
    Slot& target = slot(field);
    if (priority < target.flat_priority) return;
    if (priority > target.flat_priority) target.flat = json::value(sp_);
    target.flat_priority = priority;
    set_path(target.flat, path, std::move(value));
  }

  void metadata(std::string_view key, json::value value) {
    slot(Field::metadata).conventional.insert_or_assign(key, std::move(value));
  }

  void json_text(Field field, int priority, const KeyValue& kv) {
    if (kv.value.type == AnyValue::Type::string && is_json(kv.value.text))
      return offer_raw(field, priority, kv.value.text);
    // As Braintrust does: a _json value that is not JSON is kept, in metadata.
    metadata(kv.key, to_json(kv.value, sp_));
  }

  void model(const KeyValue& kv, std::string_view provider) {
    json::value value = to_json(kv.value, sp_);
    if (kv.value.type == AnyValue::Type::string && !provider.empty()) {
      const std::string_view model = kv.value.text;
      if (model.size() > provider.size() + 1 && model.substr(0, provider.size()) == provider &&
          model[provider.size()] == '/')
        value = json::value(json::string_view(model.substr(provider.size() + 1)), sp_);
    }
    metadata("model", std::move(value));
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
    metadata(kv.key, to_json(kv.value, sp_));  // an operation without a type stays visible
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
          return offer(known.field, 3, std::move(value));
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
    metadata(kv.key, to_json(kv.value, sp_));
  }

  std::optional<json::value> finish(Slot& target) {
    if (target.flat_priority > target.priority) {
      arrays_from_indices(target.flat);
      return std::move(target.flat);
    }
    if (target.priority >= 0) return std::move(target.whole);
    if (target.conventional.empty() && target.braintrust.empty()) return std::nullopt;
    merge_into(target.conventional, target.braintrust);
    return json::value(std::move(target.conventional));
  }

  json::value seconds(std::uint64_t nanos) const {
    // Whole seconds and the fraction apart: one division of the full count would lose
    // the sub-microsecond digits a double can still hold for the fraction.
    return json::value(
        static_cast<double>(nanos / 1'000'000'000u) + static_cast<double>(nanos % 1'000'000'000u) / 1e9, sp_);
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
  std::optional<json::value> error_;
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

void map_span(const Traces& traces, const Span& span, std::string& out) {
  // Every value of one row comes from one arena, released at once when the row is written.
  alignas(16) std::array<unsigned char, 16384> buffer;
  json::monotonic_resource arena(buffer.data(), buffer.size());
  const json::storage_ptr sp(&arena);
  RowBuilder builder(sp);
  if (span.resource_index < traces.resources.size()) {
    for (const KeyValue& kv : traces.resources[span.resource_index].attributes)
      builder.resource_attribute(kv);
  }
  const std::string_view provider = provider_of(span);
  for (const KeyValue& kv : span.attributes) builder.attribute(kv, provider);
  builder.events(span.events);
  builder.error(span);
  builder.write(span, out);
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
