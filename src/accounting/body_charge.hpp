#pragma once
// An encoded request body's bytes in the memory budget (MemoryBudget::charge()), held by
// the batch that carries the body: from the moment a stage encodes it until the batch
// settles (delivered, rejected, spooled or dropped: Accounting gives it back first) or
// is destroyed, whichever comes first. A charge is given back exactly once: moving it
// moves the charge, and a copy (of a batch, e.g. in a test) holds none.
// Not thread-safe: it travels with its batch, one thread at a time.

#include "accounting/memory_budget.hpp"

#include <cstdint>
#include <utility>

namespace spanline::detail {

class BodyCharge {
 public:
  BodyCharge() = default;
  BodyCharge(MemoryBudget& budget, std::uint64_t bytes) noexcept : budget_(&budget), bytes_(bytes) {
    budget.charge(bytes);
  }
  ~BodyCharge() { reset(); }
  BodyCharge(BodyCharge&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  BodyCharge& operator=(BodyCharge&& other) noexcept {
    if (this != &other) {
      reset();
      budget_ = std::exchange(other.budget_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  BodyCharge(const BodyCharge&) noexcept {}
  BodyCharge& operator=(const BodyCharge& other) noexcept {
    if (this != &other) reset();
    return *this;
  }

  // Gives the bytes back now (nothing when nothing is held).
  void reset() noexcept {
    if (budget_ != nullptr) budget_->uncharge(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  std::uint64_t bytes_ = 0;
};

}  // namespace spanline::detail
