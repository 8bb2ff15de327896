#pragma once
// SPANLINE_API marks what the shared library (libspanline.so) exports. The library is
// compiled with hidden visibility, so everything else, spanline::detail included, stays
// internal: the ABI is exactly the declarations carrying this mark. It changes nothing
// for the static library.

#if defined(__GNUC__) || defined(__clang__)
#define SPANLINE_API __attribute__((visibility("default")))
#else
#define SPANLINE_API
#endif
