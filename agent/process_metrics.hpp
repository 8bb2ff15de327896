#pragma once
// What /metrics says about the process itself: the standard process_* families every
// Prometheus client exports (read from /proc/self, Linux only), and the
// spanline_build_info gauge naming the version, commit and allocator of the binary.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanline::agent {

struct ProcessSnapshot {
  bool available = false;         // false when /proc could not be read: nothing is rendered
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
  std::uint64_t resident_memory_bytes = 0;
  std::uint64_t virtual_memory_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;  // the soft RLIMIT_NOFILE
};

// The fields of /proc/<pid>/stat that the snapshot needs, in the kernel's units.
struct ProcStat {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t starttime_ticks = 0;  // since boot
  std::uint64_t vsize_bytes = 0;
  std::uint64_t rss_pages = 0;
};
// Parses one /proc/<pid>/stat line; nullopt when it is not of that form. The command
// name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and the fd limit.
ProcessSnapshot read_process_snapshot();

struct BuildInfo {
  std::string version;    // project(VERSION)
  std::string commit;     // the source commit at configure time, or "unknown"
  std::string allocator;  // "jemalloc" or "libc"
};
// The running binary's build. The allocator is chosen when the executable is linked,
// so main() reports it once with set_build_allocator() before any thread starts.
BuildInfo build_info();
void set_build_allocator(std::string_view allocator);

// Appends the process_* families (when `process.available`) and spanline_build_info.
void render_process_metrics(const ProcessSnapshot& process, const BuildInfo& build, std::string& out);

}  // namespace spanline::agent
