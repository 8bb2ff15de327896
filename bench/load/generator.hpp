#pragma once
// A deterministic generator of LLM-agent-like traces: a root "task" span with nested
// llm and tool child spans, prompt and completion text of varied length, scores,
// metadata, tags, token metrics, and several merge updates per span. The same
// configuration and seed always give the same traces, byte for byte; nothing is
// read from outside.
//
// A TracePlan is independent of any target: the in-process target replays it through
// spanline::Span calls, the socket targets render it to JSON rows (render_row).

#include <spanline/fields.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::load {

enum class SizeDist { fixed, uniform, lognormal };
SizeDist parse_size_dist(std::string_view text);  // throws std::invalid_argument
std::string_view to_string(SizeDist dist);

struct GeneratorConfig {
  std::uint64_t seed = 1;
  SizeDist size_dist = SizeDist::lognormal;
  std::size_t prompt_bytes = 600;  // fixed size, uniform mean, or lognormal median
  std::size_t completion_bytes = 400;
  std::size_t min_text_bytes = 16;  // every text is clamped to [min, max]
  std::size_t max_text_bytes = 32 * 1024;
  double sigma = 0.8;         // lognormal shape
  unsigned max_children = 3;  // direct children of a span: uniform in [0, max] at the root
  unsigned max_depth = 2;     // levels below the root
  unsigned merges = 2;        // merge updates (log calls) per span, besides end()
};

// One step of replaying a trace, in the order an instrumented program would do it.
struct TraceOp {
  enum class Kind : std::uint8_t { start, log, end };
  Kind kind;
  std::uint16_t span;    // index into TracePlan::spans
  std::uint16_t update;  // index into SpanPlan::updates (kind == log)
};

struct SpanPlan {
  std::string name;
  std::string type;             // task | llm | tool
  int parent = -1;              // index of the parent span; -1 for the root
  Fields start;                 // written with the span's full row
  std::vector<Fields> updates;  // each one merge row
  Fields end;                   // written with metrics.end
};

struct TracePlan {
  std::vector<SpanPlan> spans;  // parents come before their children
  std::vector<TraceOp> ops;     // start/log/end sequence with children nested inside parents

  std::size_t span_count() const { return spans.size(); }  // = row ids
  std::size_t row_count() const { return ops.size(); }     // rows as logged (before coalescing)
  std::size_t payload_bytes() const;                       // sum of Fields text sizes
};

class SpanGenerator {
 public:
  explicit SpanGenerator(GeneratorConfig config);

  // The trace with this index; a pure function of (config, index), so threads can
  // generate disjoint indices without sharing state.
  TracePlan trace(std::uint64_t index) const;

  // `bytes` of ASCII prose (words, punctuation, newlines, the odd quote) from `rng_seed`.
  static std::string text(std::uint64_t rng_seed, std::size_t bytes);

  const GeneratorConfig& config() const { return config_; }

 private:
  GeneratorConfig config_;
};

// Identity and timing of one trace instance when it is rendered as JSON rows.
struct RowIds {
  std::string id;
  std::string span_id;
};
// A UUID-shaped id derived from (nonce, sequence, salt): unique per run when each
// producer uses its own sequence range.
inline constexpr std::size_t kUuidChars = 36;
std::string make_uuid(std::uint64_t nonce, std::uint64_t sequence, std::uint64_t salt);
// The same id written over kUuidChars characters at `out`.
void write_uuid(char* out, std::uint64_t nonce, std::uint64_t sequence, std::uint64_t salt);
// ISO-8601 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z.
std::string iso8601(double unix_seconds);
// Seconds since the epoch with 6 decimals, e.g. 1700000000.250000: the same width for
// every time until the year 2286, so a rendered row's time can be overwritten in place.
void append_unix_seconds(std::string& out, double unix_seconds);

// A part of a rendered row that changes from one send of the trace to the next: where
// its text starts (from the row's first byte) and what goes there.
struct RowSlot {
  enum class Kind : std::uint8_t {
    id,       // RowIds::id of span `span` (kUuidChars)
    span_id,  // RowIds::span_id of span `span` (kUuidChars)
    created,  // iso8601() of the send time
    seconds,  // append_unix_seconds() of the send time
  };
  std::uint32_t offset;
  Kind kind;
  std::uint16_t span;
};

// Renders the row for `op` as the official SDKs shape it (see BRAINTRUST_API.md):
// start -> full row with span_attributes, span_parents, created, metrics.start and
// "_is_merge":false; log -> merge row; end -> merge row with metrics.end.
// `ids[i]` are the ids of span i; `routing_project_id`, when not empty, is added as
// the sidecar's "project_id" routing key. Appends one compact JSON object to `out`;
// `slots`, when given, receives where its ids and times are (see TraceTemplate).
void render_row(std::string& out, const TracePlan& plan, const TraceOp& op, const std::vector<RowIds>& ids,
                double unix_seconds, std::string_view routing_project_id, std::vector<RowSlot>* slots = nullptr);

}  // namespace spanline::load
