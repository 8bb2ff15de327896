#pragma once
// A batch: rows for one destination, coalesced, on their way to the sender.

#include "accounting/body_charge.hpp"
#include "accounting/memory_budget.hpp"
#include "accounting/settled_rows.hpp"

#include <spanline/options.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace spanline::detail {

// One event of a batch; remembers how many logged rows it stands for and how many
// budget bytes to give back once it is resolved, so a split batch accounts exactly.
struct BatchEvent {
  std::string json;
  std::uint32_t source_rows = 1;
  std::uint64_t budget_bytes = 0;
  std::uint64_t id_key = 0;  // row_key() of its id (spool/row_keys.hpp); 0: no id known

  // Implicit on purpose: the stages settle an event as `accounting.dropped_event(event,
  // reason)`, and Accounting, below them, knows only the counts.
  operator SettledRows() const noexcept { return {source_rows, 1, budget_bytes}; }
};

struct Batch {
  std::uint32_t destination = 0;
  std::vector<BatchEvent> events;
  std::chrono::steady_clock::time_point opened{};  // when its first row arrived

  // Encoded request body (filled by encode()), and its bytes in the memory budget
  // (charge_body()). The charge goes with the batch: given back when it settles (see
  // below), when it is destroyed, or when charge_body() replaces it.
  BodyCharge body_charge;
  std::string body;
  Compression encoding = Compression::none;
  std::size_t raw_body_bytes = 0;

  std::uint64_t source_rows() const;
  std::uint64_t budget_bytes() const;
  // Size of the uncompressed body {"events":[...]} for these events.
  std::size_t body_size() const;

  // Implicit on purpose, as BatchEvent's: `accounting.delivered(batch, ...)`. Settling
  // takes the body's charge with it (the body itself stays until the batch goes).
  operator SettledRows() { return {source_rows(), events.size(), budget_bytes(), std::move(body_charge)}; }
};

// Size of {"events":[]} around the events.
inline constexpr std::size_t kEnvelopeBytes = 13;

// {"events":[e1,e2,...]}
std::string assemble_body(const Batch& batch);
// The same into `body`, replacing what it held (its capacity is reused).
void assemble_body_into(const Batch& batch, std::string& body);

// Counts batch.body in `budget` (memory_budget.hpp), in place of what it counted before.
void charge_body(Batch& batch, MemoryBudget& budget) noexcept;

// Fills batch.body / encoding / raw_body_bytes. Throws std::runtime_error on a codec failure.
// Keeps a buffer per calling thread for the uncompressed body, as large as the largest
// batch it encoded.
void encode(Batch& batch, Compression compression, int zstd_level);

// Splits into batches whose body_size() is at most `max_body_bytes`, keeping order.
// An event that alone exceeds the limit ends up in a batch of its own (the caller decides).
std::vector<Batch> split_to_limit(Batch batch, std::size_t max_body_bytes);

// Splits a batch of two or more events into two halves (by event count), keeping order.
std::pair<Batch, Batch> split_in_half(Batch batch);

}  // namespace spanline::detail
