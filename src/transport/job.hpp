#pragma once
// A live batch on its way through the sender, and the budget for isolating refused rows.

#include "batch/batch.hpp"
#include "transport/live_order.hpp"

#include <cstdint>
#include <memory>

namespace spanline::detail {

// A batch and how many times it has been retried.
struct Job {
  Batch batch;
  std::uint32_t retries = 0;
  // Its place in line among batches sharing row ids; parts of a split batch share it.
  std::shared_ptr<LiveOrder::Hold> order;
  // Requests its parts may still spend on isolating refused rows (isolation_budget());
  // shared by every part of a batch refused with 400/422, null before that.
  std::shared_ptr<std::uint64_t> isolation_left;
};

// How many refused rows of one batch (or spool record) are isolated before the rest of
// what is refused is rejected whole. Finding one row among n costs about 2*log2(n)
// requests, so finding all of them when the API refuses every row (a 400 about the
// request rather than its rows) would cost 2n: this keeps a refused batch of 10,000 rows
// under 250 extra requests, whatever the reason.
inline constexpr std::uint64_t kIsolatedRowsPerBatch = 8;

// Extra requests a refused batch of `events` events may spend on isolating rows.
inline std::uint64_t isolation_budget(std::uint64_t events) {
  std::uint64_t levels = 1;
  while ((std::uint64_t{1} << levels) < events && levels < 63) ++levels;
  return 2 * levels * kIsolatedRowsPerBatch;
}

// One isolation step sends two halves.
inline constexpr std::uint64_t kRequestsPerIsolationStep = 2;

}  // namespace spanline::detail
