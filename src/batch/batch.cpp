#include "batch/batch.hpp"

#include "codec/codec.hpp"

#include <iterator>

namespace spanline::detail {
namespace {

constexpr std::string_view kBodyOpen = R"({"events":[)";
constexpr std::string_view kBodyClose = "]}";
static_assert(kBodyOpen.size() + kBodyClose.size() == kEnvelopeBytes);

// A part of a split batch: same destination and age, no events, no encoded body.
Batch empty_like(const Batch& batch) {
  Batch part;
  part.destination = batch.destination;
  part.opened = batch.opened;
  return part;
}

// body_size() growth when `event` joins a batch that already holds `count` events.
std::size_t added_size(const BatchEvent& event, std::size_t count) {
  return event.json.size() + (count > 0 ? 1 : 0);
}

}  // namespace

std::uint64_t Batch::source_rows() const {
  std::uint64_t total = 0;
  for (const auto& event : events) total += event.source_rows;
  return total;
}

std::uint64_t Batch::budget_bytes() const {
  std::uint64_t total = 0;
  for (const auto& event : events) total += event.budget_bytes;
  return total;
}

std::size_t Batch::body_size() const {
  std::size_t size = kEnvelopeBytes;
  for (const auto& event : events) size += event.json.size();
  if (!events.empty()) size += events.size() - 1;  // commas
  return size;
}

void assemble_body_into(const Batch& batch, std::string& body) {
  body.clear();
  body.reserve(batch.body_size());
  body.append(kBodyOpen);
  bool first = true;
  for (const auto& event : batch.events) {
    if (!first) body.push_back(',');
    first = false;
    body.append(event.json);
  }
  body.append(kBodyClose);
}

std::string assemble_body(const Batch& batch) {
  std::string body;
  assemble_body_into(batch, body);
  return body;
}

void charge_body(Batch& batch, MemoryBudget& budget) noexcept {
  // Its size is its allocation: compress() copies the result out at its final size, and
  // an uncompressed body is reserved at its exact size.
  batch.body_charge = BodyCharge(budget, batch.body.size());
}

void encode(Batch& batch, Compression compression, int zstd_level) {
  if (compression == Compression::none) {
    std::string raw = assemble_body(batch);
    batch.raw_body_bytes = raw.size();
    batch.body = std::move(raw);
    batch.encoding = compression;
    return;
  }
  // The uncompressed body only feeds the codec: assemble it into a buffer this thread
  // keeps, rather than allocating (and page-faulting in) megabytes for every batch.
  thread_local std::string raw;
  assemble_body_into(batch, raw);
  // Only touch the batch once the codec succeeded, so a caller can retry with another.
  std::string body = compress(compression, raw, zstd_level);
  batch.body = std::move(body);
  batch.encoding = compression;
  batch.raw_body_bytes = raw.size();
}

std::vector<Batch> split_to_limit(Batch batch, std::size_t max_body_bytes) {
  std::vector<Batch> parts;
  if (batch.body_size() <= max_body_bytes) {
    parts.push_back(std::move(batch));
    return parts;
  }
  Batch current = empty_like(batch);
  std::size_t current_size = kEnvelopeBytes;
  for (auto& event : batch.events) {
    const std::size_t grow = added_size(event, current.events.size());
    if (!current.events.empty() && current_size + grow > max_body_bytes) {
      parts.push_back(std::move(current));
      current = empty_like(batch);
      current_size = kEnvelopeBytes;
    }
    current_size += added_size(event, current.events.size());
    current.events.push_back(std::move(event));
  }
  if (!current.events.empty()) parts.push_back(std::move(current));
  return parts;
}

std::pair<Batch, Batch> split_in_half(Batch batch) {
  Batch first = empty_like(batch);
  Batch second = empty_like(batch);
  // With fewer than two events the whole batch stays in `first` and `second` is empty.
  const std::size_t half = batch.events.size() < 2 ? batch.events.size() : batch.events.size() / 2;
  first.events.reserve(half);
  second.events.reserve(batch.events.size() - half);
  auto middle = batch.events.begin() + static_cast<std::ptrdiff_t>(half);
  first.events.insert(first.events.end(), std::make_move_iterator(batch.events.begin()),
                      std::make_move_iterator(middle));
  second.events.insert(second.events.end(), std::make_move_iterator(middle),
                       std::make_move_iterator(batch.events.end()));
  return {std::move(first), std::move(second)};
}

}  // namespace spanline::detail
