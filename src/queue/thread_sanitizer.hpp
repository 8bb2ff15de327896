#pragma once
// SPANLINE_THREAD_SANITIZER is 1 in a ThreadSanitizer build (GCC's __SANITIZE_THREAD__ or
// clang's __has_feature(thread_sanitizer)), else 0.
//
// TSan models atomics, locks and system calls, but not standalone fences
// (std::atomic_thread_fence, membarrier): a hand-off ordered only by fences looks like a
// data race to it, and GCC warns that it cannot check them. Code that synchronizes with
// fences therefore takes a path TSan can follow in such a build (asymmetric_fence.hpp,
// row_queue.hpp), so that every report left is a real one.

#if defined(__SANITIZE_THREAD__)
#define SPANLINE_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPANLINE_THREAD_SANITIZER 1
#endif
#endif
#ifndef SPANLINE_THREAD_SANITIZER
#define SPANLINE_THREAD_SANITIZER 0
#endif
