#pragma once
// CPU time and memory of the process (or some of its threads) doing the shipping,
// from getrusage and /proc (Linux).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>

namespace spanline::load {

struct ProcessUsage {
  double cpu_seconds = 0;            // user + system
  std::uint64_t peak_rss_bytes = 0;  // VmHWM
};

// This process, from getrusage(RUSAGE_SELF).
ProcessUsage self_usage();
// Another process, from /proc/<pid>/stat and /proc/<pid>/status; nullopt if it is gone.
std::optional<ProcessUsage> process_usage(pid_t pid);
// Thread ids of this process right now (/proc/self/task).
std::set<pid_t> current_threads();
// CPU seconds of one thread of this process; 0 when it has exited.
double thread_cpu_seconds(pid_t tid);
// CPU seconds of the calling thread.
double this_thread_cpu_seconds();

}  // namespace spanline::load
