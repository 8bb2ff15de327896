#pragma once
// A part of an object that a shared_ptr owns (the sender's core). Its completion
// handlers capture self(): a pointer to the part that keeps the whole owner alive, so
// no handler ever holds a raw `this`, and the parts never own each other.

#include <memory>
#include <utility>

namespace spanline::detail {

template <typename Part>
class Anchored {
 public:
  // Called once by the owner, right after it is made (before any handler can run).
  void anchor(std::weak_ptr<void> owner) noexcept { owner_ = std::move(owner); }

 protected:
  std::shared_ptr<Part> self() { return std::shared_ptr<Part>(owner_.lock(), static_cast<Part*>(this)); }

 private:
  std::weak_ptr<void> owner_;
};

}  // namespace spanline::detail
