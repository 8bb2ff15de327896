#include "produce/row_builder.hpp"

#include "core/wall_clock.hpp"

#include <cstring>
#include <stdexcept>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace spanline::detail {
namespace {

// Each row's text is written once into a string allocated at its exact final size
// (worked out by the draft), so it never regrows. That allocation comes back cold:
// rows are freed on the batcher's and sender's threads, so the allocator hands this
// thread memory another core touched last, and writing ~700 bytes into it means a
// dozen cache misses in a row, whose stores then hold up every later store and locked
// instruction. Asking for all of its lines as soon as it is allocated lets them
// arrive together while the id and the created time are formatted.

constexpr std::string_view kIdPrefix = "{\"id\":\"";
constexpr std::string_view kMetricsOpen = ",\"metrics\":{";
constexpr std::string_view kCreatedOpen = ",\"created\":\"";
constexpr std::string_view kMergeTrue = ",\"_is_merge\":true}";
constexpr std::string_view kMergeFalse = ",\"_is_merge\":false}";
constexpr std::string_view kObjectDelete = ",\"_object_delete\":true}";
constexpr std::string_view kSpanId = ",\"span_id\":\"";
constexpr std::string_view kRootSpanId = "\",\"root_span_id\":\"";
constexpr std::string_view kParentsOpen = ",\"span_parents\":[\"";
constexpr std::string_view kParentsClose = "\"]";
constexpr std::string_view kAttributesOpen = "\",\"span_attributes\":{\"name\":\"";
constexpr std::string_view kType = "\",\"type\":\"";

constexpr std::size_t kCacheLine = 64;

static_assert(GeneratedId::kMaxChars >= kMaxIdChars, "a span's inline ids must hold any id format");

#if defined(__x86_64__)
// PREFETCHW asks for a line in a state this core may write (a plain prefetch fetches
// it shared, and the first store asks again). The baseline x86-64 target lacks it, so
// it is used where CPUID reports it. Set during static initialization: a row written
// before that uses the plain prefetch.
bool cpu_has_prefetchw() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 8)) != 0;
}
const bool kHavePrefetchw = cpu_has_prefetchw();
#endif

void prefetch_for_write(const char* data, std::size_t size) {
  const auto first = reinterpret_cast<std::uintptr_t>(data) & ~std::uintptr_t{kCacheLine - 1};
  const auto end = reinterpret_cast<std::uintptr_t>(data) + size;
#if defined(__x86_64__)
  if (kHavePrefetchw) {
    for (std::uintptr_t line = first; line < end; line += kCacheLine)
      asm volatile("prefetchw %0" : : "m"(*reinterpret_cast<const char*>(line)));
    return;
  }
#endif
  for (std::uintptr_t line = first; line < end; line += kCacheLine)
    __builtin_prefetch(reinterpret_cast<const void*>(line), /*rw=*/1, /*locality=*/3);
}

// Starts a row whose text will be exactly `size` bytes.
Row begin_row(std::uint32_t destination, std::size_t size) {
  Row row;
  row.destination = destination;
  row.json.reserve(size);
  prefetch_for_write(row.json.data(), size);
  return row;
}

std::size_t id_chars(IdFormat format) { return format == IdFormat::uuid ? 36 : 32; }

// `{"id":"<id>"`, recording where the id's characters are. `id` is JSON string content.
void put_id(Row& row, std::string_view id) {
  row.json += kIdPrefix;
  row.id_offset = static_cast<std::uint32_t>(row.json.size());
  row.json += id;
  row.id_size = static_cast<std::uint32_t>(id.size());
  row.json += '"';
}

std::size_t body_chars(const Fields& fields) { return fields.body().empty() ? 0 : 1 + fields.body().size(); }

void put_body(Row& row, const Fields& fields) {
  if (fields.body().empty()) return;
  row.json += ',';
  row.json += fields.body();
}

// The metrics object: the span's own time member (`time_text`, already JSON, may be
// empty) followed by the caller's metrics. Absent when both are empty.
std::size_t metrics_chars(const Fields& fields, std::string_view time_key, std::string_view time_text) {
  const std::size_t own = time_key.empty() ? 0 : time_key.size() + 3 + time_text.size();  // "key":text
  const std::size_t theirs = fields.metrics_body().size();
  if (own == 0 && theirs == 0) return 0;
  return kMetricsOpen.size() + own + (own != 0 && theirs != 0 ? 1 : 0) + theirs + 1;
}

void put_metrics(Row& row, const Fields& fields, std::string_view time_key, std::string_view time_text) {
  const bool has_time = !time_key.empty();
  if (!has_time && fields.metrics_body().empty()) return;
  row.json += kMetricsOpen;
  if (has_time) {
    row.json += '"';
    row.json += time_key;
    row.json += "\":";
    row.json += time_text;
    if (!fields.metrics_body().empty()) row.json += ',';
  }
  row.json += fields.metrics_body();
  row.json += '}';
}

// `,"created":"<ISO-8601>"`.
struct CreatedText {
  static constexpr std::size_t kSize = kCreatedOpen.size() + kIso8601Chars + 1;
  char text[kSize];
  explicit CreatedText(std::chrono::system_clock::time_point when) {
    std::memcpy(text, kCreatedOpen.data(), kCreatedOpen.size());
    write_iso8601(text + kCreatedOpen.size(), when);
    text[kSize - 1] = '"';
  }
  std::string_view view() const { return {text, kSize}; }
};

bool is_plain_json_text(std::string_view text) {
  bool plain = true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    plain = plain && byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
  }
  return plain;
}

std::string_view required_id(std::string_view id) {
  if (id.empty()) throw std::invalid_argument("a row id must not be empty");
  return id;
}

}  // namespace

JsonStringText::JsonStringText(std::string_view text) {
  if (is_plain_json_text(text)) {
    plain_ = text;
    return;
  }
  // Let the string escaper write it, quotes included (and invalid UTF-8 replaced),
  // then drop the quotes.
  storage_.reserve(text.size() + 8);
  append_json_string(storage_, text);
  storage_.pop_back();
  storage_.erase(0, 1);
  escaped_ = true;
}

// ---- drafts ------------------------------------------------------------------

RowDraft RowBuilder::draft_event(std::uint32_t destination, const Fields& fields,
                                 std::string_view row_id) const {
  RowDraft draft(RowDraft::Kind::event, destination, id_format_);
  draft.fields_ = &fields;
  draft.fresh_id_ = row_id.empty();
  if (!draft.fresh_id_) draft.id_ = JsonStringText(row_id);
  draft.time_ = now();
  const std::size_t id_size = draft.fresh_id_ ? id_chars(id_format_) : draft.id_.view().size();
  draft.size_ = kIdPrefix.size() + id_size + 1 + body_chars(fields) + metrics_chars(fields, {}, {}) +
                CreatedText::kSize + 1;
  return draft;
}

RowDraft RowBuilder::draft_merge(std::uint32_t destination, std::string_view row_id,
                                 const Fields& fields) const {
  RowDraft draft(RowDraft::Kind::merge, destination, id_format_);
  draft.fields_ = &fields;
  draft.id_ = JsonStringText(required_id(row_id));
  draft.size_ = kIdPrefix.size() + draft.id_.view().size() + 1 + body_chars(fields) +
                metrics_chars(fields, {}, {}) + kMergeTrue.size();
  return draft;
}

RowDraft RowBuilder::draft_deletion(std::uint32_t destination, std::string_view row_id) const {
  RowDraft draft(RowDraft::Kind::deletion, destination, id_format_);
  draft.id_ = JsonStringText(required_id(row_id));
  draft.size_ = kIdPrefix.size() + draft.id_.view().size() + 1 + kObjectDelete.size();
  return draft;
}

RowDraft RowBuilder::draft_span_start(std::uint32_t destination, const SpanIdentity& span,
                                      const SpanIdentity* parent, SpanArgs args, const Fields& fields,
                                      std::chrono::system_clock::time_point now) const {
  RowDraft draft(RowDraft::Kind::span_start, destination, id_format_);
  draft.fields_ = &fields;
  draft.span_ = &span;
  draft.parent_ = parent;
  draft.name_ = JsonStringText(args.name.empty() ? std::string_view("span") : args.name);
  if (!args.type.empty()) draft.type_ = JsonStringText(args.type);
  draft.time_ = now;
  draft.seconds_size_ = write_unix_seconds(draft.seconds_, now);
  const std::string_view seconds(draft.seconds_, draft.seconds_size_);
  draft.size_ =
      kIdPrefix.size() + span.id.size() + 1 + kSpanId.size() + span.span_id.size() + kRootSpanId.size() +
      span.root_span_id.size() + 1 +
      (parent != nullptr ? kParentsOpen.size() + parent->span_id.size() + kParentsClose.size() : 0) +
      kCreatedOpen.size() + kIso8601Chars + kAttributesOpen.size() + draft.name_.view().size() +
      (args.type.empty() ? 0 : kType.size() + draft.type_.view().size()) + 2 + body_chars(fields) +
      metrics_chars(fields, "start", seconds) + kMergeFalse.size();
  return draft;
}

RowDraft RowBuilder::draft_span_end(std::uint32_t destination, std::string_view row_id, const Fields& fields,
                                    std::chrono::system_clock::time_point now) const {
  RowDraft draft(RowDraft::Kind::span_end, destination, id_format_);
  draft.fields_ = &fields;
  draft.id_ = JsonStringText(required_id(row_id));
  draft.time_ = now;
  draft.seconds_size_ = write_unix_seconds(draft.seconds_, now);
  draft.size_ = kIdPrefix.size() + draft.id_.view().size() + 1 + body_chars(fields) +
                metrics_chars(fields, "end", std::string_view(draft.seconds_, draft.seconds_size_)) +
                kMergeTrue.size();
  return draft;
}

// ---- writing -----------------------------------------------------------------

Row RowDraft::write() const {
  switch (kind_) {
    case Kind::event:
      return write_event();
    case Kind::merge:
    case Kind::deletion:
      return write_merge_or_deletion();
    case Kind::span_start:
      return write_span_start();
    case Kind::span_end:
      return write_span_end();
  }
  return {};
}

Row RowDraft::write_event() const {
  Row row = begin_row(destination_, size_);
  // Formatted while the row's lines are on their way.
  char fresh[kMaxIdChars];
  const std::string_view id =
      fresh_id_ ? std::string_view(fresh, write_row_id(fresh, id_format_)) : id_.view();
  const CreatedText created(time_);
  put_id(row, id);
  put_body(row, *fields_);
  put_metrics(row, *fields_, {}, {});
  row.json += created.view();
  row.json += '}';
  return row;
}

Row RowDraft::write_merge_or_deletion() const {
  Row row = begin_row(destination_, size_);
  put_id(row, id_.view());
  if (kind_ == Kind::deletion) {
    row.json += kObjectDelete;
    return row;
  }
  put_body(row, *fields_);
  put_metrics(row, *fields_, {}, {});
  row.json += kMergeTrue;
  row.is_merge = true;
  return row;
}

Row RowDraft::write_span_start() const {
  Row row = begin_row(destination_, size_);
  const CreatedText created(time_);
  put_id(row, span_->id.view());  // generated ids: nothing to escape
  row.json += kSpanId;
  row.json += span_->span_id.view();
  row.json += kRootSpanId;
  row.json += span_->root_span_id.view();
  row.json += '"';
  if (parent_ != nullptr) {
    row.json += kParentsOpen;
    row.json += parent_->span_id.view();
    row.json += kParentsClose;
  }
  row.json += created.view().substr(0, CreatedText::kSize - 1);  // kAttributesOpen closes the quote
  row.json += kAttributesOpen;
  row.json += name_.view();
  if (!type_.view().empty()) {
    row.json += kType;
    row.json += type_.view();
  }
  row.json += "\"}";
  put_body(row, *fields_);
  put_metrics(row, *fields_, "start", std::string_view(seconds_, seconds_size_));
  row.json += kMergeFalse;
  return row;
}

Row RowDraft::write_span_end() const {
  Row row = begin_row(destination_, size_);
  put_id(row, id_.view());
  put_body(row, *fields_);
  put_metrics(row, *fields_, "end", std::string_view(seconds_, seconds_size_));
  row.json += kMergeTrue;
  row.is_merge = true;
  return row;
}

// ---- ids and time ------------------------------------------------------------

SpanIdentity RowBuilder::span_identity(const SpanIdentity* parent) const {
  char text[kMaxIdChars];
  SpanIdentity span;
  span.id = GeneratedId(std::string_view(text, write_row_id(text, id_format_)));
  span.span_id = GeneratedId(std::string_view(text, write_span_id(text, id_format_)));
  span.root_span_id = parent != nullptr ? parent->root_span_id : span.span_id;
  return span;
}

std::chrono::system_clock::time_point RowBuilder::now() { return wall_clock_now(); }

}  // namespace spanline::detail
