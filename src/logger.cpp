#include <spanline/logger.hpp>

#include "pipeline/logger_core.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace spanline {

std::string_view to_string(LogResult result) {
  switch (result) {
    case LogResult::queued: return "queued";
    case LogResult::dropped_queue_full: return "dropped_queue_full";
    case LogResult::dropped_too_large: return "dropped_too_large";
    case LogResult::dropped_shutdown: return "dropped_shutdown";
  }
  return "unknown";
}

// ---- Logger ------------------------------------------------------------------

Logger::Logger(Options options) : core_(std::make_shared<detail::LoggerCore>(std::move(options))) {}

Logger::~Logger() { (void)core_->shutdown(core_->options().shutdown_timeout); }

DestinationHandle Logger::destination(const Destination& destination) {
  return core_->destinations().add(destination);
}


LogResult Logger::log(DestinationHandle to, const Fields& event, std::string_view row_id) {
  core_->require_destination(to);
  return core_->submit(core_->rows().draft_event(to.index, event, row_id));
}

LogResult Logger::log_merge(DestinationHandle to, std::string_view row_id, const Fields& event) {
  core_->require_destination(to);
  return core_->submit(core_->rows().draft_merge(to.index, row_id, event));
}

LogResult Logger::delete_row(DestinationHandle to, std::string_view row_id) {
  core_->require_destination(to);
  return core_->submit(core_->rows().draft_deletion(to.index, row_id));
}

Span Logger::start_span(DestinationHandle to, SpanArgs args, const Fields& fields) {
  core_->require_destination(to);
  const detail::SpanIdentity identity = core_->rows().span_identity(nullptr);
  Span span;
  // A refused start row still yields a span: its later rows are counted the same way.
  (void)core_->submit(
      core_->rows().draft_span_start(to.index, identity, nullptr, args, fields, detail::RowBuilder::now()));
  span.core_ = core_;
  span.destination_ = to;
  span.ids_ = identity;
  return span;
}

FlushResult Logger::flush(std::chrono::milliseconds timeout) { return core_->flush(timeout); }
FlushResult Logger::shutdown(std::chrono::milliseconds timeout) { return core_->shutdown(timeout); }
Stats Logger::stats() const { return core_->stats(); }
void Logger::set_error_handler(ErrorHandler handler) { core_->errors().set_handler(std::move(handler)); }
const Options& Logger::options() const { return core_->options(); }

// ---- Span --------------------------------------------------------------------

GeneratedId::GeneratedId(std::string_view text) {
  if (text.size() > kMaxChars)
    throw std::length_error("a generated id has at most " + std::to_string(kMaxChars) + " characters, got " +
                            std::to_string(text.size()));
  std::copy(text.begin(), text.end(), chars_.begin());
  size_ = static_cast<std::uint8_t>(text.size());
}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    if (active()) (void)end();
    core_ = std::move(other.core_);
    destination_ = other.destination_;
    ids_ = other.ids_;
    ended_ = other.ended_;
    other.ended_ = true;
  }
  return *this;
}

Span::~Span() {
  if (!active()) return;
  try {
    (void)end();
  } catch (...) {
    // Ending in a destructor is best effort; the row would only be refused.
  }
}

LogResult Span::log(const Fields& fields) {
  if (core_ == nullptr) throw std::logic_error("log() on an empty Span");
  return core_->submit(core_->rows().draft_merge(destination_.index, ids_.id.view(), fields));
}

LogResult Span::end(const Fields& fields) {
  if (core_ == nullptr) throw std::logic_error("end() on an empty Span");
  if (ended_) return LogResult::queued;
  ended_ = true;
  return core_->submit(
      core_->rows().draft_span_end(destination_.index, ids_.id.view(), fields, detail::RowBuilder::now()));
}

Span Span::start_child(SpanArgs args, const Fields& fields) {
  if (core_ == nullptr) throw std::logic_error("start_child() on an empty Span");
  const detail::SpanIdentity identity = core_->rows().span_identity(&ids_);
  (void)core_->submit(core_->rows().draft_span_start(destination_.index, identity, &ids_, args, fields,
                                                     detail::RowBuilder::now()));
  Span child;
  child.core_ = core_;
  child.destination_ = destination_;
  child.ids_ = identity;
  return child;
}

}  // namespace spanline
