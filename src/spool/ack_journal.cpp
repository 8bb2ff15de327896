#include "spool/ack_journal.hpp"

#include "spool/crc32c.hpp"
#include "spool/little_endian.hpp"
#include "spool/segment_format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <string>

namespace spanline::detail {

struct AckJournal::File {
  File(int fd_in, std::filesystem::path path_in, std::uint64_t size_in)
      : fd(fd_in), path(std::move(path_in)), size(size_in) {}
  ~File() { ::close(fd); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  int fd;
  std::filesystem::path path;
  std::uint64_t size;     // where the next entry goes (a 16-byte boundary)
  bool unsynced = false;  // in unsynced_ (under the journal's mutex)
};

namespace {

using little_endian::load;
using little_endian::store;

// 0 or the errno of the failure.
int write_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// 0 or the errno of the failure; ENOENT when there is no file.
int read_file(const std::filesystem::path& path, std::string& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return 0;
}

}  // namespace

std::filesystem::path ack_path(const std::filesystem::path& dir, std::uint64_t segment) {
  return numbered_file(dir, segment, ".acks");
}

std::optional<std::uint64_t> parse_ack_name(std::string_view name) noexcept {
  return parse_numbered_file(name, ".acks");
}

std::string encode_ack_header() {
  std::string out(kAckHeaderBytes, '\0');
  out.replace(0, kAckMagic.size(), kAckMagic);
  store<std::uint32_t>(out.data() + 8, kAckFormatVersion);
  return out;
}

void encode_ack_entry(const AckEntry& entry, char (&out)[kAckEntryBytes]) noexcept {
  store<std::uint64_t>(out, entry.offset);
  store<std::uint32_t>(out + 8, entry.record_crc);
  store<std::uint32_t>(out + 12, crc32c(out, 12));
}

ParsedAcks parse_acks(std::string_view bytes) {
  ParsedAcks parsed;
  const std::size_t slots = bytes.size() > kAckHeaderBytes
                                ? (bytes.size() - kAckHeaderBytes + kAckEntryBytes - 1) / kAckEntryBytes
                                : 0;
  parsed.header_ok = bytes.size() >= kAckHeaderBytes && bytes.substr(0, kAckMagic.size()) == kAckMagic &&
                     load<std::uint32_t>(bytes.data() + 8) == kAckFormatVersion;
  if (!parsed.header_ok) {
    parsed.ignored = slots;
    return parsed;
  }
  parsed.entries.reserve(slots);
  for (std::size_t at = kAckHeaderBytes; at < bytes.size(); at += kAckEntryBytes) {
    if (bytes.size() - at < kAckEntryBytes) {
      ++parsed.ignored;  // the torn tail of a write cut short
      break;
    }
    const char* p = bytes.data() + at;
    if (load<std::uint32_t>(p + 12) != crc32c(p, 12)) {
      ++parsed.ignored;
      continue;
    }
    parsed.entries.push_back(AckEntry{load<std::uint64_t>(p), load<std::uint32_t>(p + 8)});
  }
  std::sort(parsed.entries.begin(), parsed.entries.end());
  parsed.entries.erase(std::unique(parsed.entries.begin(), parsed.entries.end()), parsed.entries.end());
  return parsed;
}

AckJournal::AckJournal(std::filesystem::path directory, int directory_fd, std::set<std::uint64_t> earlier)
    : directory_(std::move(directory)), directory_fd_(directory_fd), earlier_(std::move(earlier)) {}

AckJournal::~AckJournal() {
  // Acknowledgements written after the flusher's last commit (the spool closed first):
  // the page cache already keeps them across a process crash; this covers a power loss.
  for (const auto& file : unsynced_) (void)::fdatasync(file->fd);
}

void AckJournal::set_wake_hook(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

std::vector<AckEntry> AckJournal::earlier_acks(std::uint64_t segment, SpoolError& error) noexcept {
  error = {};
  try {
    {
      std::lock_guard lock(mutex_);
      if (!earlier_.contains(segment)) return {};
    }
    const std::filesystem::path path = ack_path(directory_, segment);
    std::string bytes;
    if (const int err = read_file(path, bytes); err != 0) {
      if (err != ENOENT) error = make_spool_error(err, "read", path);
      return {};
    }
    return parse_acks(bytes).entries;
  } catch (const std::exception&) {
    // Out of memory for a large file: replay the segment whole, as without acknowledgements.
    error = make_spool_error(ENOMEM, "read", ack_path(directory_, segment));
    return {};
  }
}

std::shared_ptr<AckJournal::File> AckJournal::file_locked(std::uint64_t segment, SpoolError& error) {
  if (const auto it = files_.find(segment); it != files_.end()) return it->second;
  std::filesystem::path path = ack_path(directory_, segment);
  // Only an earlier run's file is kept: anything else under the name (a leftover the
  // open-time cleanup could not delete) cannot be about this segment.
  const bool keep = earlier_.contains(segment);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0600);
  if (fd < 0) {
    error = make_spool_error(errno, "create", path);
    return nullptr;
  }
  std::uint64_t size = 0;
  if (keep) {
    struct stat st {};
    char header[kAckHeaderBytes];
    if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(kAckHeaderBytes) &&
        ::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
        parse_acks(std::string_view(header, sizeof header)).header_ok) {
      const auto bytes = static_cast<std::uint64_t>(st.st_size);
      size = kAckHeaderBytes + (bytes - kAckHeaderBytes) / kAckEntryBytes * kAckEntryBytes;
    } else if (::ftruncate(fd, 0) != 0) {  // unusable: start it again
      error = make_spool_error(errno, "truncate", path);
      ::close(fd);
      return nullptr;
    }
  }
  if (size == 0) {
    directory_dirty_ = true;  // a new name: the directory needs an fsync for it to last
    const std::string header = encode_ack_header();
    if (const int err = write_all(fd, header.data(), header.size(), 0); err != 0) {
      error = make_spool_error(err, "write", path);
      ::close(fd);
      return nullptr;
    }
    size = header.size();
  }
  auto file = std::make_shared<File>(fd, std::move(path), size);
  files_.emplace(segment, file);
  return file;
}

bool AckJournal::record(RecordId id, std::uint32_t record_crc) noexcept {
  char entry[kAckEntryBytes];
  encode_ack_entry(AckEntry{id.offset, record_crc}, entry);
  bool written = false;
  bool wake = false;
  std::function<void()> hook;
  {
    std::lock_guard lock(mutex_);
    SpoolError error;
    try {
      if (const auto file = file_locked(id.segment, error)) {
        if (const int err = write_all(file->fd, entry, sizeof entry, file->size); err == 0) {
          // Only now may the caller settle the record: the entry is in the page cache.
          file->size += sizeof entry;
          written = true;
          if (!file->unsynced) {
            unsynced_.reserve(unsynced_.size() + 1);
            file->unsynced = true;
            unsynced_.push_back(file);
          }
        } else {
          error = make_spool_error(err, "write", file->path);
        }
      }
    } catch (const std::exception&) {
      if (!error) error = make_spool_error(ENOMEM, "record an acknowledgement in", directory_);
    }
    if (written) {
      ++entries_written_;
    } else {
      ++write_errors_;
      if (!pending_error_) pending_error_ = std::move(error);
    }
    wake = !dirty_;
    dirty_ = true;
    if (wake) hook = wake_;
  }
  if (hook) hook();
  return written;
}

SpoolError AckJournal::sync() noexcept {
  std::vector<std::shared_ptr<File>> files;
  bool directory = false;
  SpoolError error;
  {
    std::lock_guard lock(mutex_);
    files.swap(unsynced_);
    for (const auto& file : files) file->unsynced = false;
    directory = directory_dirty_;
    directory_dirty_ = false;
    dirty_ = false;
    error = std::move(pending_error_);
    pending_error_ = {};
  }
  for (const auto& file : files) {
    if (::fdatasync(file->fd) != 0 && !error) error = make_spool_error(errno, "fsync", file->path);
  }
  if (directory && ::fsync(directory_fd_) != 0 && !error) {
    error = make_spool_error(errno, "fsync directory", directory_);
  }
  return error;
}

bool AckJournal::dirty() const {
  std::lock_guard lock(mutex_);
  return dirty_;
}

SpoolError AckJournal::remove(std::uint64_t segment) noexcept {
  try {
    {
      std::lock_guard lock(mutex_);
      earlier_.erase(segment);
      files_.erase(segment);  // an unsynced_ entry may keep the descriptor open until the next sync
    }
    const std::filesystem::path path = ack_path(directory_, segment);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return make_spool_error(errno, "delete", path);
    return {};
  } catch (const std::exception&) {
    return make_spool_error(ENOMEM, "delete acknowledgements in", directory_);
  }
}

std::uint64_t AckJournal::entries_written() const {
  std::lock_guard lock(mutex_);
  return entries_written_;
}

std::uint64_t AckJournal::write_errors() const {
  std::lock_guard lock(mutex_);
  return write_errors_;
}

}  // namespace spanline::detail
