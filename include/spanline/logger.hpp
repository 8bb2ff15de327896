#pragma once
// spanline::Logger: the in-process pipeline. log() and the Span calls serialize the
// row on the caller's thread and queue it (well under a microsecond); a batcher
// thread coalesces, batches and compresses; a sender thread delivers over HTTP/1.1
// keep-alive with retries that honour 429 Retry-After.
//
// Thread safety: every member function may be called from any thread, except that
// shutdown() and the destructor must not race with the logger's own destruction.

#include <spanline/destination.hpp>
#include <spanline/export.hpp>
#include <spanline/fields.hpp>
#include <spanline/options.hpp>
#include <spanline/stats.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline {

namespace detail {
class LoggerCore;
struct LoggerAccess;
}

// What happened to one row handed to the logger.
enum class [[nodiscard]] LogResult {
  queued,             // accepted; it will be delivered, rejected or counted as dropped
  dropped_queue_full, // the budget was full (drop_newest, or block timed out)
  dropped_too_large,  // the row alone exceeds the payload limit
  dropped_shutdown,   // the logger is shut down
};
SPANLINE_API std::string_view to_string(LogResult result);

// Totals at the moment flush() or shutdown() returned.
struct FlushResult {
  bool complete = false;        // every row accepted before the call was resolved in time
  std::uint64_t delivered = 0;  // rows acknowledged by the server, since the logger started
  std::uint64_t rejected = 0;   // rows the server refused for good
  std::uint64_t dropped = 0;    // rows dropped, all reasons
  std::uint64_t pending = 0;    // rows accepted and not resolved yet
  std::uint64_t spooled = 0;    // rows written to the durable spool instead (replay delivers them)
};

// An error worth a human's attention. Reports are rate-limited per component and
// kind; `suppressed` counts the reports folded into this one. Never contains the key.
struct ErrorReport {
  std::string component;  // "sender", "batcher", "resolver", ...
  std::string message;
  int http_status = 0;    // 0 when not about an HTTP answer
  std::uint64_t suppressed = 0;
};
using ErrorHandler = std::function<void(const ErrorReport&)>;

struct SpanArgs {
  std::string_view name;
  std::string_view type;  // llm, score, function, eval, task, tool, ... (optional)
};

class Logger;

// An id spanline generated for a span: a UUID, or 32 or 16 hex digits. Held inline,
// so starting, moving and ending a span allocate nothing for its ids.
class SPANLINE_API GeneratedId {
 public:
  static constexpr std::size_t kMaxChars = 36;

  GeneratedId() = default;
  // Throws std::length_error when `text` is longer than kMaxChars.
  explicit GeneratedId(std::string_view text);

  std::string_view view() const noexcept { return {chars_.data(), size_}; }
  operator std::string_view() const noexcept { return view(); }
  std::size_t size() const noexcept { return size_; }
  bool operator==(const GeneratedId& other) const noexcept { return view() == other.view(); }

 private:
  std::array<char, kMaxChars> chars_{};
  std::uint8_t size_ = 0;
};

// The three ids every row of a span carries.
struct SpanIds {
  GeneratedId id;            // the row id: the start row and every merge row into it
  GeneratedId span_id;
  GeneratedId root_span_id;  // equals span_id for a root span
};

// A span shaped like the official SDKs': starting it writes a full row; log() and
// end() write merge rows with the same id. Ending is idempotent and the destructor
// ends a span that is still open. Movable, not copyable; keeps the logger's core
// alive, so a span may outlive its Logger object (rows are then dropped_shutdown).
class SPANLINE_API Span {
 public:
  Span() = default;
  Span(Span&&) noexcept = default;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span();

  LogResult log(const Fields& fields);
  // Writes metrics.end (and `fields`, if any) as a merge row. Later calls do nothing.
  LogResult end(const Fields& fields = {});
  Span start_child(SpanArgs args, const Fields& fields = {});

  bool active() const { return core_ != nullptr && !ended_; }
  std::string_view id() const { return ids_.id.view(); }
  std::string_view span_id() const { return ids_.span_id.view(); }
  std::string_view root_span_id() const { return ids_.root_span_id.view(); }

 private:
  friend class Logger;
  std::shared_ptr<detail::LoggerCore> core_;
  DestinationHandle destination_{};
  SpanIds ids_;
  bool ended_ = false;
};

class SPANLINE_API Logger {
 public:
  // Throws std::invalid_argument when `options` is invalid. Starts its threads last.
  explicit Logger(Options options);
  ~Logger();  // shutdown(options.shutdown_timeout)
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Registers a destination (idempotent: the same destination gives the same handle).
  // Throws std::invalid_argument for an empty id or name.
  DestinationHandle destination(const Destination& destination);

  // Logs one whole event (a non-merge row). `row_id` empty: a fresh id is generated.
  LogResult log(DestinationHandle to, const Fields& event, std::string_view row_id = {});
  // Logs a merge row: deep-merged into the row with the same id.
  LogResult log_merge(DestinationHandle to, std::string_view row_id, const Fields& event);
  // Deletes the row with this id (`_object_delete`).
  LogResult delete_row(DestinationHandle to, std::string_view row_id);
  Span start_span(DestinationHandle to, SpanArgs args, const Fields& fields = {});

  // Sends everything accepted before the call; waits at most `timeout`.
  FlushResult flush(std::chrono::milliseconds timeout);
  // Stops accepting rows, flushes within `timeout`, counts what is left as dropped
  // (reason shutdown) and stops the threads. Safe to call twice.
  FlushResult shutdown(std::chrono::milliseconds timeout);

  Stats stats() const;
  // Replaces the error handler (default: one line to stderr). Called from spanline's
  // threads, never while a lock is held; must not block for long.
  void set_error_handler(ErrorHandler handler);

  const Options& options() const;

 private:
  friend struct detail::LoggerAccess;  // the sidecar's entry points (spanline::sidecar)
  std::shared_ptr<detail::LoggerCore> core_;
};

}  // namespace spanline
