#include "ingest/ndjson_parser.hpp"

#include "core/ids.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace spanline::detail {

namespace od = simdjson::ondemand;

std::string_view to_string(IngestError error) {
  switch (error) {
    case IngestError::not_json:
      return "not_json";
    case IngestError::not_object:
      return "not_object";
    case IngestError::too_long:
      return "too_long";
    case IngestError::invalid_utf8:
      return "invalid_utf8";
    case IngestError::too_deep:
      return "too_deep";
    case IngestError::bad_routing_key:
      return "bad_routing_key";
    case IngestError::bad_id:
      return "bad_id";
    case IngestError::no_destination:
      return "no_destination";
    case IngestError::partial_line:
      return "partial_line";
  }
  return "unknown";
}

namespace {
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

// ---- UTF-8 -------------------------------------------------------------------

std::size_t find_invalid_utf8(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1fu;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0fu;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3fu);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return n;
}

// ---- event parser -------------------------------------------------------------

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view text, std::size_t& leading) {
  std::size_t b = 0;
  std::size_t e = text.size();
  while (b < e && is_json_space(text[b])) ++b;
  while (e > b && is_json_space(text[e - 1])) --e;
  leading = b;
  return text.substr(b, e - b);
}

IngestError classify(simdjson::error_code error) {
  switch (error) {
    case simdjson::UTF8_ERROR:
      return IngestError::invalid_utf8;
    case simdjson::DEPTH_ERROR:
      return IngestError::too_deep;
    case simdjson::CAPACITY:
      return IngestError::too_long;
    default:
      return IngestError::not_json;
  }
}

// Visits every value below `value` so that On-Demand validates all of it (it is lazy
// otherwise); strings are unescaped to check their escapes, numbers parsed.
simdjson::error_code walk(od::value value, std::size_t depth, std::size_t max_depth) noexcept {
  od::json_type type{};
  if (auto e = value.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      if (depth + 1 > max_depth) return simdjson::DEPTH_ERROR;
      od::object object;
      if (auto e = value.get_object().get(object)) return e;
      for (auto member : object) {
        od::field field;
        if (auto e = std::move(member).get(field)) return e;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        if (auto e = walk(field.value(), depth + 1, max_depth)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      if (depth + 1 > max_depth) return simdjson::DEPTH_ERROR;
      od::array array;
      if (auto e = value.get_array().get(array)) return e;
      for (auto element : array) {
        od::value child;
        if (auto e = element.get(child)) return e;
        if (auto e = walk(child, depth + 1, max_depth)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      std::string_view s;
      return value.get_string().get(s);
    }
    case od::json_type::number: {
      od::number number;
      return value.get_number().get(number);
    }
    case od::json_type::boolean: {
      bool b = false;
      return value.get_bool().get(b);
    }
    default:
      break;
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = value.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// True when nothing but whitespace follows the value just consumed.
bool at_end(od::document& doc) {
  const char* where = nullptr;
  return doc.current_location().get(where) != simdjson::SUCCESS;
}

// Tells "valid JSON, wrong shape" apart from garbage for a useful error; cheap checks only,
// since this runs for input that is refused anyway.
bool looks_like_json_value(std::string_view text) {
  const char c = text.front();
  if (c == '[') return text.back() == ']';
  if (c == '"') return text.size() >= 2 && text.back() == '"';
  if (text == "true" || text == "false" || text == "null") return true;
  if (c == '-' || (c >= '0' && c <= '9')) {
    double value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
  return false;
}

enum class RouteKey : std::uint8_t { none, project_id, project_name, experiment_id, dataset_id };

RouteKey route_key(std::string_view key) {
  if (key == "project_id") return RouteKey::project_id;
  if (key == "project_name") return RouteKey::project_name;
  if (key == "experiment_id") return RouteKey::experiment_id;
  if (key == "dataset_id") return RouteKey::dataset_id;
  return RouteKey::none;
}

// Object ids end up in a URL path, so only URL-safe characters are accepted.
bool valid_object_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool valid_project_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  return std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

constexpr std::size_t kMaxIdBytes = 256;

}  // namespace

struct EventParser::Impl {
  od::parser parser;
  od::parser body_parser;
  std::string buffer;       // padded copy of the event
  std::string body_buffer;  // padded copy of an insert body
  std::vector<std::uint32_t> member_starts;
  std::vector<bool> member_removed;

  // Copies `text` into `target` with simdjson's padding and returns the capacity.
  static std::size_t pad_copy(std::string& target, std::string_view text) {
    const std::size_t need = text.size() + simdjson::SIMDJSON_PADDING;
    if (target.size() < need) target.resize(std::max(need, target.size() * 2));
    if (!text.empty()) std::memcpy(target.data(), text.data(), text.size());
    std::memset(target.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return target.size();
  }
};

EventParser::EventParser(IngestLimits limits, IdFormat id_format)
    : impl_(std::make_unique<Impl>()), limits_(limits) {
  id_format_ = id_format;
}

EventParser::~EventParser() = default;

std::optional<IngestFailure> EventParser::parse(std::string_view raw_text, Routing routing,
                                                IngestEvent& out) {
  if (raw_text.size() > limits_.max_event_bytes)
    return IngestFailure{IngestError::too_long, limits_.max_event_bytes};
  std::size_t leading = 0;
  const std::string_view text = trim(raw_text, leading);
  auto fail = [&](IngestError reason, std::size_t offset) {
    return IngestFailure{reason, leading + std::min(offset, text.size())};
  };
  if (text.empty()) return fail(IngestError::not_json, 0);
  if (text.front() != '{') {
    return fail(looks_like_json_value(text) ? IngestError::not_object : IngestError::not_json, 0);
  }

  Impl& impl = *impl_;
  const std::size_t capacity = Impl::pad_copy(impl.buffer, text);
  const char* base = impl.buffer.data();
  od::document doc;
  if (auto e = impl.parser.iterate(base, text.size(), capacity).get(doc)) {
    if (e == simdjson::UTF8_ERROR) return fail(IngestError::invalid_utf8, find_invalid_utf8(text));
    return fail(classify(e), 0);
  }
  auto location = [&]() -> std::size_t {
    const char* where = nullptr;
    if (doc.current_location().get(where) != simdjson::SUCCESS || where == nullptr) return text.size();
    return static_cast<std::size_t>(where - base);
  };

  od::object object;
  if (auto e = doc.get_object().get(object)) return fail(classify(e), location());

  impl.member_starts.clear();
  impl.member_removed.clear();
  bool have_id = false;
  std::size_t id_start = 0;  // value characters, between the quotes
  std::size_t id_size = 0;
  bool is_merge = false;
  bool any_removed = false;
  RouteKey route = RouteKey::none;
  std::string_view route_value;

  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return fail(classify(e), location());
    const std::size_t member_start = static_cast<std::size_t>(field.key().raw() - base) - 1;
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return fail(classify(e), member_start);
    impl.member_starts.push_back(static_cast<std::uint32_t>(member_start));
    impl.member_removed.push_back(false);
    od::value value = field.value();

    if (key == "id" && !have_id) {
      std::string_view token;
      od::json_type type{};
      if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::string) {
        return fail(IngestError::bad_id, location());
      }
      token = value.raw_json_token();
      const std::size_t value_offset = static_cast<std::size_t>(token.data() - base);
      std::string_view id;
      if (auto e = value.get_string().get(id)) return fail(classify(e), value_offset);
      if (id.empty() || id.size() > kMaxIdBytes) return fail(IngestError::bad_id, value_offset);
      const std::size_t closing = token.rfind('"');
      have_id = true;
      id_start = value_offset + 1;
      id_size = closing - 1;
      continue;
    }
    if (routing == Routing::strip) {
      const RouteKey which = route_key(key);
      if (which != RouteKey::none) {
        const std::size_t value_offset = location();
        std::string_view target;
        if (value.get_string().get(target) != simdjson::SUCCESS) {
          return fail(IngestError::bad_routing_key, value_offset);
        }
        const bool ok =
            which == RouteKey::project_name ? valid_project_name(target) : valid_object_id(target);
        if (!ok) return fail(IngestError::bad_routing_key, value_offset);
        if (route != RouteKey::none && (route != which || route_value != target)) {
          return fail(IngestError::bad_routing_key, member_start);  // two different destinations
        }
        route = which;
        route_value = target;
        impl.member_removed.back() = true;
        any_removed = true;
        continue;
      }
    }
    if (key == "_is_merge") {
      od::json_type type{};
      if (value.type().get(type) == simdjson::SUCCESS && type == od::json_type::boolean) {
        if (auto e = value.get_bool().get(is_merge)) return fail(classify(e), location());
        continue;
      }
    }
    if (auto e = walk(value, 1, limits_.max_depth)) return fail(classify(e), location());
  }
  if (!at_end(doc)) return fail(IngestError::not_json, location());

  out.destination.reset();
  switch (route) {
    case RouteKey::none:
      break;
    case RouteKey::project_id:
      out.destination = Destination::project(std::string(route_value));
      break;
    case RouteKey::project_name:
      out.destination = Destination::project_named(std::string(route_value));
      break;
    case RouteKey::experiment_id:
      out.destination = Destination::experiment(std::string(route_value));
      break;
    case RouteKey::dataset_id:
      out.destination = Destination::dataset(std::string(route_value));
      break;
  }
  PreparedRow& row = out.row;
  row.is_merge = is_merge;

  if (have_id && !any_removed) {
    row.json.assign(text);  // the common case: forwarded byte for byte
    row.id_offset = static_cast<std::uint32_t>(id_start);
    row.id_size = static_cast<std::uint32_t>(id_size);
    return std::nullopt;
  }

  // Rewrite: keep each member's bytes, drop routing keys, put a fresh id first if missing.
  row.json.clear();
  row.json.reserve(text.size() + 48);
  row.json.push_back('{');
  bool first = true;
  if (!have_id) {
    row.json.append("\"id\":\"");
    row.id_offset = static_cast<std::uint32_t>(row.json.size());
    append_row_id(row.json, id_format_);
    row.id_size = static_cast<std::uint32_t>(row.json.size() - row.id_offset);
    row.json.push_back('"');
    first = false;
  }
  const std::size_t count = impl.member_starts.size();
  const std::size_t closing_brace = text.size() - 1;
  for (std::size_t i = 0; i < count; ++i) {
    if (impl.member_removed[i]) continue;
    const std::size_t start = impl.member_starts[i];
    std::size_t end = i + 1 < count ? impl.member_starts[i + 1] : closing_brace;
    // Back over whitespace, the separating comma and whitespace before it.
    while (end > start && is_json_space(text[end - 1])) --end;
    if (i + 1 < count && end > start && text[end - 1] == ',') --end;
    while (end > start && is_json_space(text[end - 1])) --end;
    if (!first) row.json.push_back(',');
    first = false;
    if (have_id && id_start > start && id_start < end) {
      row.id_offset = static_cast<std::uint32_t>(row.json.size() + (id_start - start));
      row.id_size = static_cast<std::uint32_t>(id_size);
    }
    row.json.append(text.substr(start, end - start));
  }
  row.json.push_back('}');
  return std::nullopt;
}

// ---- insert bodies ----------------------------------------------------------------

namespace {

// The body failed simdjson's whole-document UTF-8 check, so there is no DOM to say which
// event holds `offset`: find it with a small structural scan of {"events":[ ... ]}.
std::optional<std::size_t> locate_event(std::string_view body, std::size_t offset) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  std::size_t string_start = 0;
  std::string_view last_string;
  std::string_view depth1_key;
  std::string_view array_key;  // the depth-1 key whose array we are in
  std::size_t index = 0;
  for (std::size_t i = 0; i < body.size() && i < offset; ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        last_string = body.substr(string_start, i - string_start);
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_start = i + 1;
        break;
      case ':':
        if (depth == 1) depth1_key = last_string;
        break;
      case '{':
      case '[':
        if (depth == 1 && c == '[') {
          array_key = depth1_key;
          index = 0;
        }
        ++depth;
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        if (depth == 1) array_key = {};
        break;
      case ',':
        if (depth == 2 && array_key == "events") ++index;
        break;
      default:
        break;
    }
  }
  if (depth >= 2 && array_key == "events") return index;
  return std::nullopt;
}

}  // namespace

std::optional<InsertBodyFailure> parse_insert_body(std::string_view body, EventParser& parser,
                                                   std::vector<IngestEvent>& out) {
  out.clear();
  auto body_fail = [](IngestError reason, std::size_t offset, std::string message) {
    return InsertBodyFailure{std::nullopt, reason, offset, std::move(message)};
  };
  auto event_fail = [](std::size_t index, IngestError reason, std::size_t offset) {
    return InsertBodyFailure{index, reason, offset,
                             "event " + std::to_string(index) + ": " + std::string(to_string(reason))};
  };

  EventParser::Impl& impl = *parser.impl_;
  const std::size_t capacity = EventParser::Impl::pad_copy(impl.body_buffer, body);
  const char* base = impl.body_buffer.data();
  od::document doc;
  if (auto e = impl.body_parser.iterate(base, body.size(), capacity).get(doc)) {
    if (e == simdjson::UTF8_ERROR) {
      const std::size_t bad = find_invalid_utf8(body);
      if (auto index = locate_event(body, bad)) return event_fail(*index, IngestError::invalid_utf8, 0);
      return body_fail(IngestError::invalid_utf8, bad, "body is not valid UTF-8");
    }
    return body_fail(classify(e), 0, "body is not valid JSON");
  }
  auto location = [&]() -> std::size_t {
    const char* where = nullptr;
    if (doc.current_location().get(where) != simdjson::SUCCESS || where == nullptr) return body.size();
    return static_cast<std::size_t>(where - base);
  };
  od::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return body_fail(IngestError::not_object, 0, "body must be a JSON object with an \"events\" array");
  }
  bool found = false;
  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field))
      return body_fail(classify(e), location(), "body is not valid JSON");
    std::string_view key;
    if (auto e = field.unescaped_key().get(key))
      return body_fail(classify(e), location(), "body is not valid JSON");
    od::value value = field.value();
    if (key != "events" || found) {
      if (auto e = walk(value, 1, parser.limits().max_depth + 2)) {
        return body_fail(classify(e), location(), "body is not valid JSON");
      }
      continue;
    }
    found = true;
    od::array events;
    if (value.get_array().get(events) != simdjson::SUCCESS) {
      return body_fail(IngestError::not_object, location(), "\"events\" must be an array");
    }
    std::size_t index = 0;
    for (auto element : events) {
      od::value event_value;
      if (element.get(event_value) != simdjson::SUCCESS) return event_fail(index, IngestError::not_json, 0);
      od::json_type type{};
      if (event_value.type().get(type) != simdjson::SUCCESS)
        return event_fail(index, IngestError::not_json, 0);
      if (type != od::json_type::object) return event_fail(index, IngestError::not_object, 0);
      od::object event_object;
      std::string_view event_text;
      if (event_value.get_object().get(event_object) != simdjson::SUCCESS ||
          event_object.raw_json().get(event_text) != simdjson::SUCCESS) {
        return event_fail(index, IngestError::not_json, 0);
      }
      IngestEvent& event = out.emplace_back();
      if (auto failure = parser.parse(event_text, Routing::keep, event)) {
        return event_fail(index, failure->reason, failure->offset);
      }
      ++index;
    }
  }
  if (!at_end(doc)) return body_fail(IngestError::not_json, location(), "trailing bytes after the body");
  if (!found) return body_fail(IngestError::not_object, 0, "body must have an \"events\" array");
  return std::nullopt;
}

namespace {
void append_escaped(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[(static_cast<unsigned char>(c) >> 4) & 0xf]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}
}  // namespace

std::string insert_failure_json(const InsertBodyFailure& failure) {
  std::string out = "{\"error\":{\"message\":";
  append_escaped(out, failure.message);
  out.append(",\"reason\":");
  append_escaped(out, to_string(failure.reason));
  if (failure.index) {
    out.append(",\"event_index\":");
    out.append(std::to_string(*failure.index));
  }
  out.append(",\"offset\":");
  out.append(std::to_string(failure.offset));
  out.append("}}");
  return out;
}

}  // namespace spanline::detail
