#pragma once
// Turns a log call into a Row: compact JSON text whose first member is always the
// id, so the id's position is known without parsing. Runs on the caller's thread.

#include "core/row.hpp"

#include <spanline/fields.hpp>
#include <spanline/logger.hpp>
#include <spanline/options.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace spanline::detail {

struct SpanIdentity {
  std::string id;            // row id
  std::string span_id;
  std::string root_span_id;  // equals span_id for a root span
};

class RowBuilder {
 public:
  explicit RowBuilder(IdFormat id_format) : id_format_(id_format) {}

  // A whole event (non-merge). Empty `row_id`: a fresh id.
  Row event(std::uint32_t destination, const Fields& fields, std::string_view row_id) const;
  // A merge row for `row_id`.
  Row merge(std::uint32_t destination, std::string_view row_id, const Fields& fields) const;
  // `_object_delete` for `row_id`.
  Row deletion(std::uint32_t destination, std::string_view row_id) const;

  // Fresh ids for a span; `parent` null for a root span.
  SpanIdentity span_identity(const SpanIdentity* parent) const;
  // The full row that starts a span: ids, span_parents, created, span_attributes, metrics.start.
  Row span_start(std::uint32_t destination, const SpanIdentity& span, const SpanIdentity* parent, SpanArgs args,
                 const Fields& fields, std::chrono::system_clock::time_point now) const;
  // The merge row that ends a span: metrics.end plus `fields`.
  Row span_end(std::uint32_t destination, std::string_view row_id, const Fields& fields,
               std::chrono::system_clock::time_point now) const;

 private:
  IdFormat id_format_;
};

}  // namespace spanline::detail
