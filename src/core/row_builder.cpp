#include "core/row_builder.hpp"

#include "core/ids.hpp"

#include <stdexcept>

namespace spanline::detail {
namespace {

constexpr std::string_view kIdPrefix = "{\"id\":\"";

// Starts a row with its id member and records where the id's characters are.
Row begin_row(std::uint32_t destination, std::size_t expected_size) {
  Row row;
  row.destination = destination;
  row.json.reserve(expected_size);
  row.json += kIdPrefix;
  row.id_offset = static_cast<std::uint32_t>(kIdPrefix.size());
  return row;
}

void finish_id(Row& row) {
  row.id_size = static_cast<std::uint32_t>(row.json.size() - row.id_offset);
  row.json += '"';
}

void append_given_id(Row& row, std::string_view id) {
  if (id.empty()) throw std::invalid_argument("a row id must not be empty");
  // Ids are user text like any other: let the string escaper write it, quotes included,
  // over the prefix's opening quote, then take its closing quote back off.
  row.json.pop_back();
  append_json_string(row.json, id);
  row.json.pop_back();
  finish_id(row);
}

void append_body(Row& row, const Fields& fields) {
  if (!fields.body().empty()) {
    row.json += ',';
    row.json += fields.body();
  }
}

void append_metrics(Row& row, const Fields& fields, std::string_view time_key, double time_value) {
  const bool has_time = !time_key.empty();
  if (!has_time && fields.metrics_body().empty()) return;
  row.json += ",\"metrics\":{";
  if (has_time) {
    row.json += '"';
    row.json += time_key;
    row.json += "\":";
    append_json_number(row.json, time_value);
    if (!fields.metrics_body().empty()) row.json += ',';
  }
  row.json += fields.metrics_body();
  row.json += '}';
}

std::size_t expected_size(const Fields& fields) { return 192 + fields.body().size() + fields.metrics_body().size(); }

}  // namespace

Row RowBuilder::event(std::uint32_t destination, const Fields& fields, std::string_view row_id) const {
  Row row = begin_row(destination, expected_size(fields));
  if (row_id.empty()) {
    append_row_id(row.json, id_format_);
    finish_id(row);
  } else {
    append_given_id(row, row_id);
  }
  append_body(row, fields);
  append_metrics(row, fields, {}, 0);
  row.json += ",\"created\":\"";
  append_iso8601(row.json, std::chrono::system_clock::now());
  row.json += "\"}";
  return row;
}

Row RowBuilder::merge(std::uint32_t destination, std::string_view row_id, const Fields& fields) const {
  Row row = begin_row(destination, expected_size(fields));
  append_given_id(row, row_id);
  append_body(row, fields);
  append_metrics(row, fields, {}, 0);
  row.json += ",\"_is_merge\":true}";
  row.is_merge = true;
  return row;
}

Row RowBuilder::deletion(std::uint32_t destination, std::string_view row_id) const {
  Row row = begin_row(destination, 64);
  append_given_id(row, row_id);
  row.json += ",\"_object_delete\":true}";
  return row;
}

SpanIdentity RowBuilder::span_identity(const SpanIdentity* parent) const {
  SpanIdentity span;
  span.id.reserve(36);
  append_row_id(span.id, id_format_);
  span.span_id.reserve(36);
  append_span_id(span.span_id, id_format_);
  span.root_span_id = parent != nullptr ? parent->root_span_id : span.span_id;
  return span;
}

Row RowBuilder::span_start(std::uint32_t destination, const SpanIdentity& span, const SpanIdentity* parent,
                           SpanArgs args, const Fields& fields, std::chrono::system_clock::time_point now) const {
  Row row = begin_row(destination, expected_size(fields) + 3 * span.id.size() + args.name.size());
  row.json += span.id;
  finish_id(row);
  row.json += ",\"span_id\":\"";
  row.json += span.span_id;
  row.json += "\",\"root_span_id\":\"";
  row.json += span.root_span_id;
  row.json += '"';
  if (parent != nullptr) {
    row.json += ",\"span_parents\":[\"";
    row.json += parent->span_id;
    row.json += "\"]";
  }
  row.json += ",\"created\":\"";
  append_iso8601(row.json, now);
  row.json += "\",\"span_attributes\":{\"name\":";
  append_json_string(row.json, args.name.empty() ? std::string_view("span") : args.name);
  if (!args.type.empty()) {
    row.json += ",\"type\":";
    append_json_string(row.json, args.type);
  }
  row.json += '}';
  append_body(row, fields);
  append_metrics(row, fields, "start", unix_seconds(now));
  row.json += ",\"_is_merge\":false}";
  return row;
}

Row RowBuilder::span_end(std::uint32_t destination, std::string_view row_id, const Fields& fields,
                         std::chrono::system_clock::time_point now) const {
  Row row = begin_row(destination, expected_size(fields));
  row.json += row_id;  // span ids are generated hex/uuid text: nothing to escape
  finish_id(row);
  append_body(row, fields);
  append_metrics(row, fields, "end", unix_seconds(now));
  row.json += ",\"_is_merge\":true}";
  row.is_merge = true;
  return row;
}

}  // namespace spanline::detail
