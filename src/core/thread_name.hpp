#pragma once
// Names the calling thread so that `top -H`, `ps -L`, perf and gdb show which of
// spanline's threads is busy ("sl-batcher", "sl-encode-1", ...) instead of the
// host program's name repeated for every thread.

#include <string>

namespace spanline::detail {

// Linux allows 15 characters; a longer name is cut. Failure is ignored: the name is
// only a diagnostic aid.
void name_this_thread(const std::string& name) noexcept;

}  // namespace spanline::detail
