#include "queue/asymmetric_fence.hpp"

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace spanline::detail {
namespace {

#if defined(__linux__) && defined(__NR_membarrier) && !SPANLINE_THREAD_SANITIZER
long membarrier(int command) noexcept { return syscall(__NR_membarrier, command, 0, 0); }
#endif

}  // namespace

bool register_for_asymmetric_fences() noexcept {
#if SPANLINE_THREAD_SANITIZER
  return false;  // both sides use the shared RMW instead (asymmetric_fence.hpp)
#elif defined(__linux__) && defined(__NR_membarrier)
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  // Registration is per process and must precede the first expedited barrier.
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#else
  return false;
#endif
}

void heavy_fence() noexcept {
#if SPANLINE_THREAD_SANITIZER
  (void)sanitizer_fence_word().fetch_add(1, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__linux__) && defined(__NR_membarrier)
  if (asymmetric_fences_available()) {
    // Cannot fail once registered (the kernel documents no other error for it).
    (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
#endif
#endif
}

}  // namespace spanline::detail
