#pragma once
// Waiting in tests for a condition that has nothing to block on (a fake API's counters,
// files another thread writes): poll it, with a deadline, never a fixed sleep.

#include <chrono>
#include <functional>
#include <thread>

namespace spanline::test_support {

// Polls `done` every 10 ms until it holds (true) or `timeout` passes (false).
inline bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace spanline::test_support
