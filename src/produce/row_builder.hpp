#pragma once
// Turns a log call into a Row: compact JSON text whose first member is always the
// id, so the id's position is known without parsing. Runs on the caller's thread.
//
// A row is drafted first (its exact size worked out, user text escaped) and written
// after: the logger admits a draft against the payload limit and the memory budget
// before the row's text is allocated and written (see LoggerCore::submit). Writing
// allocates once, at the exact size.

#include "core/ids.hpp"
#include "core/row.hpp"

#include <spanline/fields.hpp>
#include <spanline/logger.hpp>
#include <spanline/options.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace spanline::detail {

using SpanIdentity = SpanIds;

// The characters between the quotes of a JSON string holding `text`: escaped where
// needed (a copy), or `text` itself when it has nothing to escape (the common case;
// no copy). Refers to `text` in that case: it must outlive this object.
class JsonStringText {
 public:
  JsonStringText() = default;
  explicit JsonStringText(std::string_view text);
  std::string_view view() const { return escaped_ ? std::string_view(storage_) : plain_; }

 private:
  std::string_view plain_;
  std::string storage_;
  bool escaped_ = false;
};

// A row sized but not written yet. Refers to the Fields, ids and span it was drafted
// from: write it before they change or go away.
class RowDraft {
 public:
  // The row's JSON text will be exactly this long.
  std::size_t json_size() const noexcept { return size_; }
  std::size_t budget_bytes() const noexcept { return size_ + kRowOverheadBytes; }
  // Allocates json_size() bytes once and writes the row.
  Row write() const;

 private:
  friend class RowBuilder;
  enum class Kind : std::uint8_t { event, merge, deletion, span_start, span_end };
  RowDraft(Kind kind, std::uint32_t destination, IdFormat id_format) noexcept
      : kind_(kind), id_format_(id_format), destination_(destination) {}

  Row write_event() const;
  Row write_merge_or_deletion() const;
  Row write_span_start() const;
  Row write_span_end() const;

  Kind kind_;
  IdFormat id_format_;
  std::uint32_t destination_;
  std::size_t size_ = 0;
  const Fields* fields_ = nullptr;
  bool fresh_id_ = false;                         // events without a given id: generated at write()
  JsonStringText id_;                             // the row id otherwise
  const SpanIdentity* span_ = nullptr;            // span_start
  const SpanIdentity* parent_ = nullptr;          // span_start of a child span
  JsonStringText name_, type_;                    // span_start's span_attributes
  std::chrono::system_clock::time_point time_{};  // created, metrics.start or metrics.end
  char seconds_[kMaxUnixSecondsChars]{};          // metrics.start / metrics.end as JSON
  std::size_t seconds_size_ = 0;
};

class RowBuilder {
 public:
  explicit RowBuilder(IdFormat id_format) : id_format_(id_format) {}

  // The time rows carry (`created`, metrics.start/end): wall_clock_now(), a TSC-based
  // stand-in for system_clock::now() kept within microseconds of it (wall_clock.hpp).
  static std::chrono::system_clock::time_point now();

  // A whole event (non-merge), stamped with now() (read here, at drafting). Empty
  // `row_id`: a fresh id, generated when written.
  RowDraft draft_event(std::uint32_t destination, const Fields& fields, std::string_view row_id) const;
  // A merge row for `row_id` (std::invalid_argument when empty).
  RowDraft draft_merge(std::uint32_t destination, std::string_view row_id, const Fields& fields) const;
  // `_object_delete` for `row_id` (std::invalid_argument when empty).
  RowDraft draft_deletion(std::uint32_t destination, std::string_view row_id) const;
  // The full row that starts a span: ids, span_parents, created, span_attributes, metrics.start.
  RowDraft draft_span_start(std::uint32_t destination, const SpanIdentity& span, const SpanIdentity* parent,
                            SpanArgs args, const Fields& fields,
                            std::chrono::system_clock::time_point now) const;
  // The merge row that ends a span: metrics.end plus `fields`. `row_id` is a span's
  // generated id (nothing to escape).
  RowDraft draft_span_end(std::uint32_t destination, std::string_view row_id, const Fields& fields,
                          std::chrono::system_clock::time_point now) const;

  // The same, drafted and written at once.
  Row event(std::uint32_t destination, const Fields& fields, std::string_view row_id) const {
    return draft_event(destination, fields, row_id).write();
  }
  Row merge(std::uint32_t destination, std::string_view row_id, const Fields& fields) const {
    return draft_merge(destination, row_id, fields).write();
  }
  Row deletion(std::uint32_t destination, std::string_view row_id) const {
    return draft_deletion(destination, row_id).write();
  }
  Row span_start(std::uint32_t destination, const SpanIdentity& span, const SpanIdentity* parent,
                 SpanArgs args, const Fields& fields, std::chrono::system_clock::time_point now) const {
    return draft_span_start(destination, span, parent, args, fields, now).write();
  }
  Row span_end(std::uint32_t destination, std::string_view row_id, const Fields& fields,
               std::chrono::system_clock::time_point now) const {
    return draft_span_end(destination, row_id, fields, now).write();
  }

  // Fresh ids for a span; `parent` null for a root span.
  SpanIdentity span_identity(const SpanIdentity* parent) const;

 private:
  IdFormat id_format_;
};

}  // namespace spanline::detail
