#pragma once
// What Accounting needs to know of something that settles: a batch, one event of a
// batch, or rows evicted from the queue. Counts, and a batch's encoded-body charge, so
// that Accounting depends on no stage; batch/batch.hpp turns a Batch or a BatchEvent
// into one.

#include "accounting/body_charge.hpp"

#include <cstdint>

namespace spanline::detail {

struct SettledRows {
  std::uint64_t rows = 0;          // logged rows it stands for (coalesced rows included)
  std::uint64_t events = 0;        // events sent upstream for them
  std::uint64_t budget_bytes = 0;  // what they hold in the memory budget
  BodyCharge body;                 // a batch's encoded body: given back as it settles
};

}  // namespace spanline::detail
