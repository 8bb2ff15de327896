#include "process_metrics.hpp"

#include <spanline/version.hpp>
#include <spanline_build_info.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace spanline::agent {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Boot time in Unix seconds: the "btime" line of /proc/stat.
std::optional<std::uint64_t> boot_time_seconds() {
  std::istringstream in(read_file("/proc/stat"));
  std::string key;
  std::uint64_t value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::uint64_t count_open_fds() {
  std::error_code ec;
  std::uint64_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++count;
  }
  // The iterator's own descriptor is among them and closes with it.
  return count > 0 ? count - 1 : 0;
}

// Set once by main() before threads start, read by /metrics afterwards.
std::string& allocator_storage() {
  static std::string allocator = "libc";
  return allocator;
}

void gauge_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  out.append(type).append("\n");
}

void append_value(std::string& out, double value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  out.append(buffer, end).append("\n");
}

void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            double value) {
  gauge_header(out, name, type, help);
  out.append(name).append(" ");
  append_value(out, value);
}

void append_label(std::string& out, std::string_view key, std::string_view value) {
  out.append(key).append("=\"");
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // Field numbers as in proc(5).
  constexpr int kUtime = 14, kStime = 15, kStarttime = 22, kVsize = 23, kRss = 24;
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::istringstream in{std::string(text.substr(close + 1))};
  std::array<std::string, kRss + 1> fields;
  for (int number = 3; number <= kRss; ++number) {
    if (!(in >> fields[static_cast<std::size_t>(number)])) return std::nullopt;
  }
  auto unsigned_at = [&](int number) -> std::optional<std::uint64_t> {
    const std::string& field = fields[static_cast<std::size_t>(number)];
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec != std::errc{} || end != field.data() + field.size()) return std::nullopt;
    return value;
  };
  const auto utime = unsigned_at(kUtime);
  const auto stime = unsigned_at(kStime);
  const auto starttime = unsigned_at(kStarttime);
  const auto vsize = unsigned_at(kVsize);
  const auto rss = unsigned_at(kRss);
  if (!utime || !stime || !starttime || !vsize || !rss) return std::nullopt;
  return ProcStat{.utime_ticks = *utime,
                  .stime_ticks = *stime,
                  .starttime_ticks = *starttime,
                  .vsize_bytes = *vsize,
                  .rss_pages = *rss};
}

ProcessSnapshot read_process_snapshot() {
  ProcessSnapshot snapshot;
  const auto stat = parse_proc_stat(read_file("/proc/self/stat"));
  const auto boot = boot_time_seconds();
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (!stat || !boot || ticks <= 0 || page <= 0) return snapshot;
  const auto per_second = static_cast<double>(ticks);
  snapshot.available = true;
  snapshot.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / per_second;
  snapshot.start_time_seconds =
      static_cast<double>(*boot) + static_cast<double>(stat->starttime_ticks) / per_second;
  snapshot.resident_memory_bytes = stat->rss_pages * static_cast<std::uint64_t>(page);
  snapshot.virtual_memory_bytes = stat->vsize_bytes;
  snapshot.open_fds = count_open_fds();
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) snapshot.max_fds = limit.rlim_cur;
  return snapshot;
}

BuildInfo build_info() { return {SPANLINE_VERSION_STRING, SPANLINE_GIT_COMMIT, allocator_storage()}; }

void set_build_allocator(std::string_view allocator) { allocator_storage() = allocator; }

void render_process_metrics(const ProcessSnapshot& process, const BuildInfo& build, std::string& out) {
  if (process.available) {
    single(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
           process.cpu_seconds);
    single(out, "process_open_fds", "gauge", "Number of open file descriptors.",
           static_cast<double>(process.open_fds));
    single(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(process.max_fds));
    single(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           static_cast<double>(process.virtual_memory_bytes));
    single(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           static_cast<double>(process.resident_memory_bytes));
    single(out, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.", process.start_time_seconds);
  }
  gauge_header(out, "spanline_build_info", "gauge",
               "Always 1; the labels name the version, source commit and memory allocator of spanlined.");
  out += "spanline_build_info{";
  append_label(out, "version", build.version);
  out += ',';
  append_label(out, "commit", build.commit);
  out += ',';
  append_label(out, "allocator", build.allocator);
  out += "} 1\n";
}

}  // namespace spanline::agent
