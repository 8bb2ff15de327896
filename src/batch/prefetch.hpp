#pragma once
// Asking for memory before it is needed, on the batcher's thread: rows reach it written
// by other cores, and are read again only when their batch closes, long after.

#include <algorithm>
#include <cstddef>
#include <string>

namespace spanline::detail {

// Asks for the cache line holding `at` to be brought into this core's caches.
// An asm statement on x86 rather than __builtin_prefetch: GCC counts the builtin as free
// of side effects, and so deletes loops, and calls to functions, that only prefetch.
inline void prefetch_line(const void* at) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(at)));
#elif defined(__GNUC__)
  __builtin_prefetch(at);
#else
  (void)at;
#endif
}

// The first `max_bytes` of `text` (all of it when shorter).
inline void prefetch_text(const std::string& text, std::size_t max_bytes = 4096) noexcept {
  constexpr std::size_t kLine = 64;
  const std::size_t end = std::min(text.size(), max_bytes);
  for (std::size_t at = 0; at < end; at += kLine) prefetch_line(text.data() + at);
}

}  // namespace spanline::detail
