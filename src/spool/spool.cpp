#include "spool/spool.hpp"

#include "spool/ack_journal.hpp"
#include "spool/segment_format.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

namespace spanline::detail {
namespace {

constexpr const char* kLockFileName = "spool.lock";
constexpr const char* kProbeFileName = ".write-probe";

std::int64_t read_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(v);
}

// When the first record of a segment was written, for the oldest-unacked-age gauge;
// 0 when it cannot be told (replay finds out later). Not CRC-checked: only a gauge.
std::int64_t peek_first_record_time(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char bytes[kSegmentHeaderBytes + kRecordHeaderBytes + kRecordFixedBodyBytes];
  const ssize_t n = ::pread(fd, bytes, sizeof bytes, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof bytes)) return 0;
  const std::string_view view(bytes, sizeof bytes);
  if (check_segment_header(view) != HeaderCheck::ok) return 0;
  if (!parse_record_header(view.substr(kSegmentHeaderBytes))) return 0;
  return read_le64(bytes + kSegmentHeaderBytes + kRecordHeaderBytes + 12);
}

SpoolError check_writable(const std::filesystem::path& dir) {
  const std::filesystem::path probe = dir / kProbeFileName;
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_spool_error(errno, "create files in", dir);
  const char byte = 'x';
  ssize_t n;
  do {
    n = ::write(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  const int write_errno = n == 1 ? 0 : (n < 0 ? errno : EIO);
  ::close(fd);
  ::unlink(probe.c_str());
  if (write_errno != 0) return make_spool_error(write_errno, "write to", dir);
  return {};
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The spool holds users' prompts and answers: only its owner may read it, whatever the
// umask of the process that created it (or of an earlier version that made it 0755).
constexpr mode_t kOtherUsersBits = 077;

// Creates the spool directory owner-only (parents as the umask says). Makes no
// difference to a directory that exists: tighten_directory() sees to that.
std::error_code create_private_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) || ec) return ec;
  if (dir.has_parent_path()) {
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return ec;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return {errno, std::generic_category()};
  return {};
}

// Removes group and other bits from the directory open as `dir_fd`; a line for the log
// when there were some.
std::optional<std::string> tighten_directory(int dir_fd, const std::filesystem::path& dir) {
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0 || (st.st_mode & kOtherUsersBits) == 0) return std::nullopt;
  const mode_t wanted = st.st_mode & 0700;
  if (::fchmod(dir_fd, wanted) != 0) {
    return "spool directory " + dir.string() + " has mode " + octal_mode(st.st_mode) +
           " (other users may read it) and cannot be made " + octal_mode(wanted) + ": " +
           std::generic_category().message(errno);
  }
  return "spool directory " + dir.string() + " had mode " + octal_mode(st.st_mode) +
         " (other users could read it); set to " + octal_mode(wanted);
}

// Removes group and other bits from every regular file in the directory (segments,
// .acks, the lock file, anything an earlier run left); a line for the log when there
// were some. Symbolic links are left alone: their targets are not the spool's.
std::optional<std::string> tighten_files(int dir_fd, const std::filesystem::path& dir) {
  std::size_t tightened = 0, failed = 0;
  std::string example;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if ((st.st_mode & kOtherUsersBits) == 0) continue;
    if (example.empty()) example = name + " was " + octal_mode(st.st_mode);
    if (::fchmodat(dir_fd, name.c_str(), st.st_mode & 0700, 0) == 0) {
      ++tightened;
    } else {
      ++failed;
    }
  }
  if (tightened == 0 && failed == 0) return std::nullopt;
  std::string line = "spool files in " + dir.string() + " were readable or writable by other users (" +
                     example + "): " + std::to_string(tightened) + " set to owner-only";
  if (failed != 0) line += ", " + std::to_string(failed) + " could not be changed";
  return line;
}

}  // namespace

SpoolError make_spool_error(int errno_value, std::string_view action, const std::filesystem::path& path) {
  SpoolError error;
  error.code = boost::system::error_code(errno_value, boost::system::system_category());
  error.message = "spool: cannot ";
  error.message += action;
  error.message += ' ';
  error.message += path.string();
  error.message += ": ";
  error.message += error.code.message();
  return error;
}

void validate(const SpoolOptions& options) {
  if (options.directory.empty()) throw std::invalid_argument("spool.directory must be set");
  if (options.fsync_interval.count() < 0) {
    throw std::invalid_argument("spool.fsync_interval_ms must be >= 0, got " +
                                std::to_string(options.fsync_interval.count()));
  }
  if (options.segment_max_bytes < 1024) {
    throw std::invalid_argument("spool.segment_max_bytes must be >= 1 KiB, got " +
                                std::to_string(options.segment_max_bytes));
  }
  if (options.max_bytes < 4096) {
    throw std::invalid_argument("spool.max_bytes must be >= 4 KiB, got " + std::to_string(options.max_bytes));
  }
  if (options.block_timeout.count() < 0) {
    throw std::invalid_argument("spool.block_timeout_ms must be >= 0, got " +
                                std::to_string(options.block_timeout.count()));
  }
}

std::string_view to_string(SpoolStatus status) {
  switch (status) {
    case SpoolStatus::ok:
      return "ok";
    case SpoolStatus::full:
      return "full";
    case SpoolStatus::too_large:
      return "too_large";
    case SpoolStatus::io_error:
      return "io_error";
    case SpoolStatus::timeout:
      return "timeout";
    case SpoolStatus::closed:
      return "closed";
  }
  return "unknown";
}

std::unique_ptr<Spool> Spool::open(const SpoolOptions& options, SpoolError& error) {
  validate(options);
  error = {};
  const std::filesystem::path& dir = options.directory;

  std::error_code ec = create_private_directory(dir);
  if (ec) {
    error = make_spool_error(ec.value(), "create directory", dir);
    return nullptr;
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    error = make_spool_error(errno, "open directory", dir);
    return nullptr;
  }
  const std::filesystem::path lock_path = dir / kLockFileName;
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    error = make_spool_error(errno, "create lock file", lock_path);
    ::close(dir_fd);
    return nullptr;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      error.code = boost::system::error_code(EBUSY, boost::system::system_category());
      error.message = "spool: directory " + dir.string() + " is in use by another spool (" +
                      lock_path.string() + " is locked)";
    } else {
      error = make_spool_error(err, "lock", lock_path);
    }
    ::close(lock_fd);
    ::close(dir_fd);
    return nullptr;
  }
  if (error = check_writable(dir); error) {
    ::close(lock_fd);
    ::close(dir_fd);
    return nullptr;
  }
  // Once the lock is held, so that no other spool creates files meanwhile.
  for (const auto& line : {tighten_directory(dir_fd, dir), tighten_files(dir_fd, dir)}) {
    if (line && options.on_notice) options.on_notice("permissions", *line);
  }

  std::vector<Existing> existing;
  std::map<std::uint64_t, std::filesystem::path> ack_files;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (const auto acked = parse_ack_name(name)) {
      ack_files.emplace(*acked, it->path());
      continue;
    }
    const auto segment = parse_segment_name(name);
    if (!segment) continue;
    std::error_code size_ec;
    const std::uint64_t bytes = it->file_size(size_ec);
    if (size_ec) continue;
    existing.push_back(Existing{*segment, it->path(), bytes, peek_first_record_time(it->path())});
  }
  if (ec) {
    error = make_spool_error(ec.value(), "list", dir);
    ::close(lock_fd);
    ::close(dir_fd);
    return nullptr;
  }
  std::sort(existing.begin(), existing.end(),
            [](const Existing& a, const Existing& b) { return a.segment < b.segment; });
  // New segments are numbered past every file, acknowledgements included, so that a
  // leftover .acks file can never be taken for a new segment's.
  std::uint64_t first_new = existing.empty() ? 1 : existing.back().segment + 1;
  if (!ack_files.empty()) first_new = std::max(first_new, ack_files.rbegin()->first + 1);
  std::set<std::uint64_t> acknowledged;
  for (const auto& [segment, path] : ack_files) {
    const auto it = std::lower_bound(existing.begin(), existing.end(), segment,
                                     [](const Existing& e, std::uint64_t s) { return e.segment < s; });
    if (it != existing.end() && it->segment == segment) {
      acknowledged.insert(segment);
    } else if (std::error_code exists_ec;
               !std::filesystem::exists(segment_path(dir, segment), exists_ec) && !exists_ec) {
      ::unlink(path.c_str());  // its segment was deleted and a crash came before it was
    }
  }
  return std::unique_ptr<Spool>(
      new Spool(options, dir_fd, lock_fd, existing, std::move(acknowledged), first_new));
}

Spool::Spool(const SpoolOptions& options, int directory_fd, int lock_fd,
             const std::vector<Existing>& existing, std::set<std::uint64_t> acknowledged_segments,
             std::uint64_t first_new_segment)
    : options_(options),
      directory_fd_(directory_fd),
      lock_fd_(lock_fd),
      order_(options_.order_max_rows),
      catalog_(options_, order_),
      journal_(options_.directory, directory_fd_, std::move(acknowledged_segments)),
      writer_(options_, catalog_, journal_, directory_fd_, first_new_segment),
      reader_(catalog_, journal_, order_) {
  for (const Existing& e : existing) catalog_.add_existing(e.segment, e.path, e.bytes, e.first_unix_ms);
  catalog_.set_wake_hook([this] { writer_.wake_maintenance(); });
  journal_.set_wake_hook([this] { writer_.wake_for_acks(); });
  writer_.start();
}

void Spool::settle(RecordId id, bool rejected) noexcept {
  const auto crc = catalog_.outstanding_crc(id);
  if (!crc) return;  // unknown, or acknowledged already
  // On disk (the page cache) before the catalog settles the record: from then on the
  // replay order lets later rows of its ids go upstream live, and a replay of this record
  // by the next run would put its full rows back over them. A failed write is counted
  // and reported; the record is settled anyway (it may then be replayed once more).
  (void)journal_.record(id, *crc);
  catalog_.ack(id, rejected);
}

Spool::~Spool() {
  close();
  ::close(lock_fd_);
  ::close(directory_fd_);
}

void Spool::close() noexcept {
  catalog_.close();
  writer_.close();
}

SpoolMetrics Spool::metrics() const {
  SpoolMetrics m;
  catalog_.fill(m);
  writer_.add_metrics(m);
  m.ack_write_errors = journal_.write_errors();
  return m;
}

SpoolError Spool::last_error() const {
  SpoolError error = writer_.last_error();
  if (!error) error = catalog_.last_read_error();
  return error;
}

}  // namespace spanline::detail
