#pragma once
// The sidecar's ingest stage: validates one incoming event with simdjson On-Demand and
// turns it into a spanline::PreparedRow, forwarding the event's bytes unchanged unless a
// routing key must be removed or an `id` added. Also frames NDJSON streams into lines and
// splits Braintrust insert bodies ({"events":[...]}) into events.
//
// Thread safety: an EventParser owns simdjson buffers and must be used by one thread at a
// time (keep one per thread or per connection). LineFramer is per connection.

#include "core/prepared_row.hpp"

#include <spanline/destination.hpp>
#include <spanline/options.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::detail {

// Why an event was refused. Stable names (to_string) are used in logs and metrics.
enum class IngestError : std::uint8_t {
  not_json,         // not parseable JSON, or trailing bytes after the value
  not_object,       // valid start of a JSON value that is not an object
  too_long,         // longer than the configured line / event limit
  invalid_utf8,     // bytes that are not UTF-8
  too_deep,         // nesting deeper than IngestLimits::max_depth
  bad_routing_key,  // project_id / project_name / experiment_id / dataset_id not a usable string, or
                    // conflicting
  bad_id,           // "id" present but not a non-empty string of at most 256 bytes
  no_destination,   // no routing key and no default destination (reported by the daemon)
  partial_line,     // the client disconnected in the middle of a line (reported by the daemon)
};
inline constexpr std::size_t kIngestErrorCount = 9;
std::string_view to_string(IngestError error);

struct IngestLimits {
  std::size_t max_event_bytes = std::size_t{1} << 20;
  std::size_t max_depth = 64;  // the event object itself is depth 1
};

struct IngestFailure {
  IngestError reason = IngestError::not_json;
  std::size_t offset = 0;  // byte offset inside the event text where the problem was found
};

struct IngestEvent {
  PreparedRow row;
  std::optional<Destination> destination;  // from routing keys; empty: use the default
};

// The routing key an event named, as found by EventParser::parse_row: no Destination is
// built (that allocates), so a caller that routes many events to the same place can look
// the value up in a cache instead.
enum class RouteKind : std::uint8_t { none, project_id, project_name, experiment_id, dataset_id };
struct Route {
  RouteKind kind = RouteKind::none;
  std::string_view value;  // unescaped; points into the parser, valid until its next call

  // The Destination it names; empty for RouteKind::none.
  std::optional<Destination> destination() const;
};

struct InsertBodyFailure;
struct ArrayBodyParser;
class EventParser;
[[nodiscard]] std::optional<InsertBodyFailure> parse_insert_body(std::string_view body, EventParser& parser,
                                                                 std::vector<IngestEvent>& out);

// Whether routing keys are interpreted (and removed) or left in the event untouched.
//   strip:      project_id / project_name / experiment_id / dataset_id route the event (NDJSON).
//   keep:       nothing is interpreted (the insert URL names the destination).
//   object_ids: a /logs3 row, named as the official SDKs name it: project_id with log_id "g"
//               (project logs), experiment_id, or dataset_id; exactly one, and required. Those
//               keys and log_id are removed; project_name is an ordinary field here. Any other
//               object (prompt_session_id, a log_id other than "g") is bad_routing_key.
enum class Routing { strip, keep, object_ids };

class EventParser {
 public:
  explicit EventParser(IngestLimits limits = {}, IdFormat id_format = IdFormat::uuid);
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Validates `text` (one JSON object; surrounding whitespace is ignored) and fills `out`.
  // `out` is overwritten on success and unspecified on failure. Never throws for bad input;
  // std::bad_alloc may escape.
  [[nodiscard]] std::optional<IngestFailure> parse(std::string_view text, Routing routing, IngestEvent& out);

  // The same without building a Destination: the sidecar's per-line path. `row.json` is
  // sized exactly (a fresh row gets one allocation of the row's size: rows are handed to
  // other threads and counted against the memory budget by their size, so spare capacity
  // would be memory nobody uses or counts). `route.value` is valid until the next call on
  // this parser.
  //
  // `readable`: how many bytes from text.data() may be read (their content does not
  // matter). When that covers the event plus kPadding, the event is parsed where it lies;
  // otherwise (and with the default 0) it is first copied into a padded buffer. The answer
  // never depends on what lies past the event.
  static constexpr std::size_t kPadding = 64;  // simdjson::SIMDJSON_PADDING
  [[nodiscard]] std::optional<IngestFailure> parse_row(std::string_view text, Routing routing,
                                                       PreparedRow& row, Route& route,
                                                       std::size_t readable = 0);

  const IngestLimits& limits() const { return limits_; }

 private:
  // parse_row's work on the trimmed object `text`, whose bytes lie at `base` (the caller's
  // buffer or the padded copy) with `capacity` bytes readable from there.
  [[nodiscard]] std::optional<IngestFailure> parse_object(std::string_view text, std::size_t leading,
                                                          const char* base, std::size_t capacity,
                                                          Routing routing, PreparedRow& row, Route& route);

  friend std::optional<InsertBodyFailure> parse_insert_body(std::string_view, EventParser&,
                                                            std::vector<IngestEvent>&);
  friend struct ArrayBodyParser;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  IngestLimits limits_;
  IdFormat id_format_ = IdFormat::uuid;
};

// First byte offset in `text` that is not part of valid UTF-8, or text.size() if all valid.
std::size_t find_invalid_utf8(std::string_view text) noexcept;

// Splits a byte stream into lines. Complete lines inside the fed buffer are passed on
// without copying; only the unfinished tail of a buffer is carried over. A line longer
// than `max_line_bytes` is reported once (at its start offset) and skipped up to its newline.
class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line_bytes) : max_line_(max_line_bytes) {}

  // on_line(std::string_view line, std::uint64_t stream_offset): line without the '\n'.
  // on_too_long(std::uint64_t stream_offset).
  template <class OnLine, class OnTooLong>
  void feed(std::string_view data, OnLine&& on_line, OnTooLong&& on_too_long);

  // Feeds `data` up to and including its first newline (all of it when it has none), so at
  // most one line is passed on; returns the bytes consumed. For a caller that must be able
  // to stop after any line (a row that waits for room) without looking for its newline twice.
  template <class OnLine, class OnTooLong>
  std::size_t feed_one(std::string_view data, OnLine&& on_line, OnTooLong&& on_too_long);

  // True when bytes of an unfinished line are pending (a disconnect now loses them).
  bool has_partial() const { return !carry_.empty() || skipping_; }
  std::uint64_t partial_offset() const { return line_start_; }
  std::uint64_t bytes_seen() const { return offset_; }

 private:
  std::size_t max_line_;
  std::string carry_;
  bool skipping_ = false;     // inside an overlong line, dropping bytes until '\n'
  std::uint64_t offset_ = 0;  // stream bytes consumed so far
  std::uint64_t line_start_ = 0;
};

template <class OnLine, class OnTooLong>
void LineFramer::feed(std::string_view data, OnLine&& on_line, OnTooLong&& on_too_long) {
  while (!data.empty()) data.remove_prefix(feed_one(data, on_line, on_too_long));
}

template <class OnLine, class OnTooLong>
std::size_t LineFramer::feed_one(std::string_view data, OnLine&& on_line, OnTooLong&& on_too_long) {
  if (data.empty()) return 0;
  const std::size_t nl = data.find('\n');
  const std::size_t end = nl == std::string_view::npos ? data.size() : nl;
  const std::string_view piece = data.substr(0, end);
  if (skipping_) {
    // rest of an overlong line: dropped
  } else if (!carry_.empty() || nl == std::string_view::npos) {
    if (carry_.size() + piece.size() > max_line_) {
      carry_.clear();
      skipping_ = true;
      on_too_long(line_start_);
    } else {
      carry_.append(piece);
      if (nl != std::string_view::npos) {
        on_line(std::string_view(carry_), line_start_);
        carry_.clear();
      }
    }
  } else if (piece.size() > max_line_) {
    on_too_long(line_start_);
  } else {
    on_line(piece, line_start_);
  }
  offset_ += end;
  if (nl == std::string_view::npos) return data.size();
  ++offset_;  // the newline
  skipping_ = false;
  line_start_ = offset_;
  return nl + 1;
}

// Where a Braintrust insert body ({"events":[...]}) went wrong. `index` is the event's
// position in "events", or empty when the body itself is wrong.
struct InsertBodyFailure {
  std::optional<std::size_t> index;
  IngestError reason = IngestError::not_json;
  std::size_t offset = 0;  // inside the event when index is set, else inside the body
  std::string message;     // human-readable, e.g. "\"events\" must be an array"
};

// Parses an insert body; every event is validated with `parser` (routing keys kept: the
// URL decides the destination). All-or-nothing: on failure `out` is unspecified.
[[nodiscard]] std::optional<InsertBodyFailure> parse_insert_body(std::string_view body, EventParser& parser,
                                                                 std::vector<IngestEvent>& out);

// Parses a /logs3 body as the official SDKs send it: {"rows":[...],"api_version":2}. Each row
// is validated as an insert event is, and routed by its object ids (Routing::object_ids):
// every IngestEvent has its destination set. An api_version other than 2 is refused, as is
// an overflow reference ("rows" an object). All-or-nothing, like parse_insert_body; the
// failure's index is the row's.
[[nodiscard]] std::optional<InsertBodyFailure> parse_logs3_body(std::string_view body, EventParser& parser,
                                                                std::vector<IngestEvent>& out);

// {"error":{"message":...,"reason":...,"event_index":N,"offset":N}} for a 400 answer.
// `index_name` names the index member ("row_index" for /logs3).
std::string insert_failure_json(const InsertBodyFailure& failure,
                                std::string_view index_name = "event_index");

}  // namespace spanline::detail
