#include "ingest/ndjson_parser.hpp"

#include "core/destination_id.hpp"
#include "core/ids.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cassert>
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

static_assert(EventParser::kPadding == simdjson::SIMDJSON_PADDING);

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

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// What a number token needs before it can be called valid JSON.
enum class NumberCheck { valid, invalid, convert };

// Checks the JSON number grammar on a raw token (the number and the whitespace up to the
// next structural character), which is all a number needs to be valid JSON. Converting it
// (what On-Demand's get_number() does) costs several times more and is only left to
// simdjson where the conversion can refuse a well-formed number, so that the verdict stays
// exactly simdjson's: an exponent (out of range) or 19+ integer digits (past 64 bits).
NumberCheck check_number(std::string_view token) {
  std::size_t i = 0;
  const std::size_t n = token.size();
  if (i < n && token[i] == '-') ++i;
  const std::size_t int_start = i;
  if (i < n && token[i] == '0') {
    ++i;
  } else {
    while (i < n && is_digit(token[i])) ++i;
  }
  const std::size_t int_digits = i - int_start;
  if (int_digits == 0) return NumberCheck::invalid;
  if (i < n && token[i] == '.') {
    ++i;
    const std::size_t fraction_start = i;
    while (i < n && is_digit(token[i])) ++i;
    if (i == fraction_start) return NumberCheck::invalid;
  }
  const bool exponent = i < n && (token[i] == 'e' || token[i] == 'E');
  if (exponent) return NumberCheck::convert;
  while (i < n && is_json_space(token[i])) ++i;
  if (i != n) return NumberCheck::invalid;  // e.g. "01" or "1x": one token for stage 1
  return int_digits >= 19 ? NumberCheck::convert : NumberCheck::valid;
}

// Strings and keys need their escapes checked (stage 1 already refused bad UTF-8 and raw
// control characters); one without a backslash has none and is not unescaped at all.
//
// These helpers take plain pointers and views, never an On-Demand value or field by
// reference: that would make the compiler keep the iterator state in memory, and the
// loads right after its stores cost more than the checks.
inline bool has_backslash(std::string_view token) {
  return std::memchr(token.data(), '\\', token.size()) != nullptr;
}

// The raw text of a key that has no escapes; `start` is just after its opening quote,
// and stage 1 saw the string closed.
inline bool plain_key(const char* start, std::string_view& key) {
  const char* end = start;
  while (*end != '"' && *end != '\\') ++end;
  key = std::string_view(start, static_cast<std::size_t>(end - start));
  return *end == '"';
}

// Visits every value below `value` so that On-Demand validates all of it (it is lazy
// otherwise): keys and strings have their escapes checked, numbers their grammar.
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
        if (!plain_key(field.key().raw(), key)) {
          if (auto e = field.unescaped_key().get(key)) return e;
        }
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
      // Consumed either way: a string left for the iterator to skip would let it take
      // `"a":` inside an array for a key (simdjson skips it leniently).
      if (has_backslash(value.raw_json_token())) {
        std::string_view unescaped;
        return value.get_string().get(unescaped);
      }
      od::raw_json_string raw;
      return value.get_raw_json_string().get(raw);
    }
    case od::json_type::number: {
      switch (check_number(value.raw_json_token())) {
        case NumberCheck::valid:
          // Left for the iterator to skip: unlike a string, a skipped number is one token
          // and whatever follows it is checked as the next separator. (A differential run
          // of 4 million mutated events against the previous, converting walk found no
          // verdict, reason or offset that differs.)
          return simdjson::SUCCESS;
        case NumberCheck::invalid:
          return simdjson::NUMBER_ERROR;
        case NumberCheck::convert:
          break;
      }
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

RouteKind route_key(std::string_view key) {
  if (key == "project_id") return RouteKind::project_id;
  if (key == "project_name") return RouteKind::project_name;
  if (key == "experiment_id") return RouteKind::experiment_id;
  if (key == "dataset_id") return RouteKind::dataset_id;
  return RouteKind::none;
}

bool valid_project_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  return std::none_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

constexpr std::size_t kMaxIdBytes = 256;
constexpr std::string_view kIdMemberOpen = "\"id\":\"";

}  // namespace

std::optional<Destination> Route::destination() const {
  switch (kind) {
    case RouteKind::none:
      break;
    case RouteKind::project_id:
      return Destination::project(std::string(value));
    case RouteKind::project_name:
      return Destination::project_named(std::string(value));
    case RouteKind::experiment_id:
      return Destination::experiment(std::string(value));
    case RouteKind::dataset_id:
      return Destination::dataset(std::string(value));
  }
  return std::nullopt;
}

struct EventParser::Impl {
  od::parser parser;
  od::parser body_parser;
  std::string buffer;       // padded copy of the event
  std::string body_buffer;  // padded copy of an insert body
  // The event's members in order: where each starts (its key's opening quote) and whether
  // it is a routing key to leave out of the row.
  struct Member {
    std::uint32_t start;    // the key's opening quote
    std::uint32_t end = 0;  // past the value, before any separator (set for the rewrite)
    bool removed = false;
  };
  std::vector<Member> members;
  // The last routing value found valid, and for which key: a client sends a connection's
  // events to one place, so most lines need not check it again.
  RouteKind valid_route_kind = RouteKind::none;
  std::string valid_route_value;

  bool valid_route(RouteKind kind, std::string_view value) {
    if (kind == valid_route_kind && value == valid_route_value) return true;
    const bool ok = kind == RouteKind::project_name ? valid_project_name(value) : valid_destination_id(value);
    if (ok) {
      valid_route_kind = kind;
      valid_route_value.assign(value);
    }
    return ok;
  }

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

std::optional<IngestFailure> EventParser::parse(std::string_view text, Routing routing, IngestEvent& out) {
  Route route;
  auto failure = parse_row(text, routing, out.row, route);
  if (!failure) out.destination = route.destination();
  return failure;
}

std::optional<IngestFailure> EventParser::parse_row(std::string_view raw_text, Routing routing,
                                                    PreparedRow& row, Route& route, std::size_t readable) {
  if (raw_text.size() > limits_.max_event_bytes)
    return IngestFailure{IngestError::too_long, limits_.max_event_bytes};
  std::size_t leading = 0;
  const std::string_view text = trim(raw_text, leading);
  if (text.empty()) return IngestFailure{IngestError::not_json, leading};
  if (text.front() != '{') {
    return IngestFailure{looks_like_json_value(text) ? IngestError::not_object : IngestError::not_json,
                         leading};
  }

  // In place when the caller's buffer has the padding simdjson reads past the end: a line
  // inside a socket read usually does, and then the event is never copied before the row.
  const std::size_t capacity = readable > leading ? readable - leading : 0;
  if (capacity >= text.size() + kPadding) {
    auto failure = parse_object(text, leading, text.data(), capacity, routing, row, route);
    if (!failure) return std::nullopt;
    // simdjson's verdict on malformed input can depend on the padding: On-Demand peeks at
    // the first byte past the event ('}' there triggers a balance check that refuses
    // `{"id":[}` early), and an unbalanced event can walk onto the end sentinel, whose
    // character is that byte. A datagram's last line is followed by stale bytes. A
    // well-formed event never reads past its closing brace, so only a refusal is suspect:
    // it is re-derived from a zero-padded copy, making the answer the same whatever
    // follows the line. Refused input is rare, so the second parse costs nothing that counts.
  }
  Impl& impl = *impl_;
  const std::size_t padded = Impl::pad_copy(impl.buffer, text);
  return parse_object(text, leading, impl.buffer.data(), padded, routing, row, route);
}

std::optional<IngestFailure> EventParser::parse_object(std::string_view text, std::size_t leading,
                                                       const char* base, std::size_t capacity,
                                                       Routing routing, PreparedRow& row, Route& route) {
  auto fail = [&](IngestError reason, std::size_t offset) {
    return IngestFailure{reason, leading + std::min(offset, text.size())};
  };
  Impl& impl = *impl_;
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

  impl.members.clear();
  bool have_id = false;
  std::size_t id_start = 0;  // value characters, between the quotes
  std::size_t id_size = 0;
  bool is_merge = false;
  bool any_removed = false;
  bool have_log_id = false;
  std::string_view log_id;
  route = Route{};

  for (auto member : object) {
    od::field field;
    if (auto e = std::move(member).get(field)) return fail(classify(e), location());
    const std::size_t member_start = static_cast<std::size_t>(field.key().raw() - base) - 1;
    std::string_view key;
    if (!plain_key(field.key().raw(), key)) {
      if (auto e = field.unescaped_key().get(key)) return fail(classify(e), member_start);
    }
    impl.members.push_back(Impl::Member{static_cast<std::uint32_t>(member_start)});
    od::value value = field.value();

    if (key == "id" && !have_id) {
      od::json_type type{};
      if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::string) {
        return fail(IngestError::bad_id, location());
      }
      const std::string_view token = value.raw_json_token();
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
    if (routing == Routing::object_ids) {
      if (key == "log_id") {
        if (have_log_id || value.get_string().get(log_id) != simdjson::SUCCESS) {
          return fail(IngestError::bad_routing_key, location());
        }
        have_log_id = true;
        impl.members.back().removed = true;
        any_removed = true;
        continue;
      }
      // Objects the SDKs can name but no insert endpoint serves.
      if (key == "prompt_session_id") return fail(IngestError::bad_routing_key, member_start);
    }
    if (routing == Routing::strip || routing == Routing::object_ids) {
      const RouteKind which = route_key(key);
      if (which != RouteKind::none && !(routing == Routing::object_ids && which == RouteKind::project_name)) {
        const std::size_t value_offset = location();
        std::string_view target;
        if (value.get_string().get(target) != simdjson::SUCCESS) {
          return fail(IngestError::bad_routing_key, value_offset);
        }
        if (!impl.valid_route(which, target)) return fail(IngestError::bad_routing_key, value_offset);
        if (route.kind != RouteKind::none && (route.kind != which || route.value != target)) {
          return fail(IngestError::bad_routing_key, member_start);  // two different destinations
        }
        route = Route{which, target};
        impl.members.back().removed = true;
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
  if (routing == Routing::object_ids) {
    // Project logs are project_id with log_id "g"; the other objects carry no log_id.
    const bool project = route.kind == RouteKind::project_id;
    if (route.kind == RouteKind::none) return fail(IngestError::no_destination, 0);
    if (project != have_log_id || (project && log_id != "g")) return fail(IngestError::bad_routing_key, 0);
  }

  row.is_merge = is_merge;
  if (have_id && !any_removed) {
    row.json.assign(text);  // the common case: forwarded byte for byte
    row.id_offset = static_cast<std::uint32_t>(id_start);
    row.id_size = static_cast<std::uint32_t>(id_size);
    return std::nullopt;
  }

  // Rewrite: keep each member's bytes, drop routing keys, put a fresh id first if missing.
  // Every kept member's extent is found first, so the row is allocated once at its size.
  const std::size_t count = impl.members.size();
  const std::size_t closing_brace = text.size() - 1;
  std::size_t size = 2;  // the braces
  std::size_t kept = 0;
  for (std::size_t i = 0; i < count; ++i) {
    Impl::Member& member = impl.members[i];
    std::size_t end = i + 1 < count ? impl.members[i + 1].start : closing_brace;
    // Back over whitespace, the separating comma and whitespace before it.
    while (end > member.start && is_json_space(text[end - 1])) --end;
    if (i + 1 < count && end > member.start && text[end - 1] == ',') --end;
    while (end > member.start && is_json_space(text[end - 1])) --end;
    member.end = static_cast<std::uint32_t>(end);
    if (member.removed) continue;
    size += end - member.start;
    ++kept;
  }
  char new_id[kMaxIdChars];
  std::size_t new_id_size = 0;
  if (!have_id) {
    new_id_size = write_row_id(new_id, id_format_);
    size += kIdMemberOpen.size() + new_id_size + 1;  // "id":"<id>"
    ++kept;
  }
  if (kept > 1) size += kept - 1;  // commas

  std::string& json = row.json;
  json.clear();
  json.reserve(size);
  json.push_back('{');
  bool first = true;
  if (!have_id) {
    json.append(kIdMemberOpen);
    row.id_offset = static_cast<std::uint32_t>(json.size());
    json.append(new_id, new_id_size);
    row.id_size = static_cast<std::uint32_t>(new_id_size);
    json.push_back('"');
    first = false;
  }
  for (const Impl::Member& member : impl.members) {
    if (member.removed) continue;
    if (!first) json.push_back(',');
    first = false;
    if (have_id && id_start > member.start && id_start < member.end) {
      row.id_offset = static_cast<std::uint32_t>(json.size() + (id_start - member.start));
      row.id_size = static_cast<std::uint32_t>(id_size);
    }
    json.append(text.substr(member.start, member.end - member.start));
  }
  json.push_back('}');
  assert(json.size() == size);
  return std::nullopt;
}

// ---- insert bodies ----------------------------------------------------------------

namespace {

// The body failed simdjson's whole-document UTF-8 check, so there is no DOM to say which
// element holds `offset`: find it with a small structural scan of {"<array_key>":[ ... ]}.
std::optional<std::size_t> locate_element(std::string_view body, std::size_t offset,
                                          std::string_view array_key_name) {
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
        if (depth == 2 && array_key == array_key_name) ++index;
        break;
      default:
        break;
    }
  }
  if (depth >= 2 && array_key == array_key_name) return index;
  return std::nullopt;
}

}  // namespace

// The two body shapes differ only in the array's name, how its elements are routed and
// what else the body must say; the walk is shared.
struct ArrayBodyParser {
  struct Format {
    std::string_view array_key;  // "events" | "rows"
    std::string_view element;    // "event" | "row", for messages
    Routing routing;
    bool logs3;  // api_version must be 2 when present; rows get their destination
  };

  static std::optional<InsertBodyFailure> parse(std::string_view body, EventParser& parser,
                                                std::vector<IngestEvent>& out, const Format& format) {
    out.clear();
    auto body_fail = [](IngestError reason, std::size_t offset, std::string message) {
      return InsertBodyFailure{std::nullopt, reason, offset, std::move(message)};
    };
    auto element_fail = [&](std::size_t index, IngestError reason, std::size_t offset) {
      return InsertBodyFailure{
          index, reason, offset,
          std::string(format.element) + " " + std::to_string(index) + ": " + std::string(to_string(reason))};
    };
    const std::string shape = format.logs3 ? "body must be a JSON object with a \"rows\" array"
                                           : "body must be a JSON object with an \"events\" array";

    EventParser::Impl& impl = *parser.impl_;
    const std::size_t capacity = EventParser::Impl::pad_copy(impl.body_buffer, body);
    const char* base = impl.body_buffer.data();
    od::document doc;
    if (auto e = impl.body_parser.iterate(base, body.size(), capacity).get(doc)) {
      if (e == simdjson::UTF8_ERROR) {
        const std::size_t bad = find_invalid_utf8(body);
        if (auto index = locate_element(body, bad, format.array_key))
          return element_fail(*index, IngestError::invalid_utf8, 0);
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
    if (doc.get_object().get(object) != simdjson::SUCCESS)
      return body_fail(IngestError::not_object, 0, shape);
    bool found = false;
    for (auto member : object) {
      od::field field;
      if (auto e = std::move(member).get(field))
        return body_fail(classify(e), location(), "body is not valid JSON");
      std::string_view key;
      if (auto e = field.unescaped_key().get(key))
        return body_fail(classify(e), location(), "body is not valid JSON");
      od::value value = field.value();
      if (format.logs3 && key == "api_version") {
        // The SDKs send 2; version 1 rows have a different shape this parser does not read.
        std::uint64_t version = 0;
        if (value.get_uint64().get(version) != simdjson::SUCCESS || version != 2) {
          return body_fail(IngestError::not_object, location(), "\"api_version\" must be 2");
        }
        continue;
      }
      if (key != format.array_key || found) {
        if (auto e = walk(value, 1, parser.limits().max_depth + 2)) {
          return body_fail(classify(e), location(), "body is not valid JSON");
        }
        continue;
      }
      found = true;
      od::array elements;
      if (value.get_array().get(elements) != simdjson::SUCCESS) {
        std::string message = "\"" + std::string(format.array_key) + "\" must be an array";
        if (format.logs3)
          message += " (overflow references are not supported: spanlined takes the rows inline)";
        return body_fail(IngestError::not_object, location(), std::move(message));
      }
      std::size_t index = 0;
      for (auto element : elements) {
        od::value element_value;
        if (element.get(element_value) != simdjson::SUCCESS)
          return element_fail(index, IngestError::not_json, 0);
        od::json_type type{};
        if (element_value.type().get(type) != simdjson::SUCCESS)
          return element_fail(index, IngestError::not_json, 0);
        if (type != od::json_type::object) return element_fail(index, IngestError::not_object, 0);
        od::object element_object;
        std::string_view element_text;
        if (element_value.get_object().get(element_object) != simdjson::SUCCESS ||
            element_object.raw_json().get(element_text) != simdjson::SUCCESS) {
          return element_fail(index, IngestError::not_json, 0);
        }
        IngestEvent& event = out.emplace_back();
        // The element lies in the padded body buffer, so it is parsed where it is, not copied.
        const auto readable =
            static_cast<std::size_t>(impl.body_buffer.data() + capacity - element_text.data());
        Route route;
        if (auto failure = parser.parse_row(element_text, format.routing, event.row, route, readable)) {
          return element_fail(index, failure->reason, failure->offset);
        }
        if (format.routing == Routing::object_ids) event.destination = route.destination();
        ++index;
      }
    }
    if (!at_end(doc)) return body_fail(IngestError::not_json, location(), "trailing bytes after the body");
    if (!found) return body_fail(IngestError::not_object, 0, shape);
    return std::nullopt;
  }
};

std::optional<InsertBodyFailure> parse_insert_body(std::string_view body, EventParser& parser,
                                                   std::vector<IngestEvent>& out) {
  // Routing::keep: the URL decides, so no route is read.
  return ArrayBodyParser::parse(body, parser, out, {"events", "event", Routing::keep, false});
}

std::optional<InsertBodyFailure> parse_logs3_body(std::string_view body, EventParser& parser,
                                                  std::vector<IngestEvent>& out) {
  return ArrayBodyParser::parse(body, parser, out, {"rows", "row", Routing::object_ids, true});
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

std::string insert_failure_json(const InsertBodyFailure& failure, std::string_view index_name) {
  std::string out = "{\"error\":{\"message\":";
  append_escaped(out, failure.message);
  out.append(",\"reason\":");
  append_escaped(out, to_string(failure.reason));
  if (failure.index) {
    out.append(",\"");
    out.append(index_name);
    out.append("\":");
    out.append(std::to_string(*failure.index));
  }
  out.append(",\"offset\":");
  out.append(std::to_string(failure.offset));
  out.append("}}");
  return out;
}

}  // namespace spanline::detail
