#include "trace_template.hpp"

#include <cstring>
#include <stdexcept>

namespace spanline::load {

namespace {

// Rows are rendered with this time and these ids in place, all overwritten on each
// send; any time of the same width would do.
constexpr double kTemplateTime = 1.7e9;

void write_over(std::string& out, std::size_t at, std::string_view text, std::size_t expected_size) {
  // Slots are fixed-width by construction (ids, ISO-8601 with milliseconds, seconds
  // with 6 decimals); a time after 2286 would not fit, and must not corrupt the row.
  if (text.size() != expected_size) throw std::length_error("trace template: a slot's text changed width");
  std::memcpy(out.data() + at, text.data(), text.size());
}

}  // namespace

void TraceIds::assign(std::size_t spans, std::uint64_t nonce, std::uint64_t first_sequence) {
  ids_.resize(spans);
  for (std::size_t s = 0; s < spans; ++s) {
    RowIds& id = ids_[s];
    // Written in place: the strings keep their storage from one trace to the next.
    id.id.resize(kUuidChars);
    id.span_id.resize(kUuidChars);
    write_uuid(id.id.data(), nonce, first_sequence + s, 0);
    write_uuid(id.span_id.data(), nonce, first_sequence + s, 1);
  }
}

void TraceIds::set_time(double unix_seconds) {
  unix_seconds_ = unix_seconds;
  created_ = iso8601(unix_seconds);
  seconds_.clear();
  append_unix_seconds(seconds_, unix_seconds);
}

TraceTemplate::TraceTemplate(const TracePlan& plan, std::string_view routing_project_id) {
  TraceIds placeholder;
  placeholder.assign(plan.spans.size(), 0, 0);
  placeholder.set_time(kTemplateTime);
  created_size_ = placeholder.created().size();
  seconds_size_ = placeholder.seconds().size();
  rows_.reserve(plan.ops.size());
  for (const TraceOp& op : plan.ops) {
    Row& row = rows_.emplace_back();
    render_row(row.text, plan, op, placeholder.ids(), placeholder.unix_seconds(), routing_project_id, &row.slots);
  }
}

void TraceTemplate::append_row(std::string& out, std::size_t index, const TraceIds& with) const {
  const Row& row = rows_.at(index);
  const std::size_t start = out.size();
  out += row.text;
  for (const RowSlot& slot : row.slots) {
    const std::size_t at = start + slot.offset;
    switch (slot.kind) {
      case RowSlot::Kind::id:
        write_over(out, at, with.ids().at(slot.span).id, kUuidChars);
        break;
      case RowSlot::Kind::span_id:
        write_over(out, at, with.ids().at(slot.span).span_id, kUuidChars);
        break;
      case RowSlot::Kind::created:
        write_over(out, at, with.created(), created_size_);
        break;
      case RowSlot::Kind::seconds:
        write_over(out, at, with.seconds(), seconds_size_);
        break;
    }
  }
}

}  // namespace spanline::load
