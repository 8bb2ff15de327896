#include "spool/spool_writer.hpp"

#include "core/thread_name.hpp"
#include "spool/segment_format.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <string>
#include <system_error>

namespace spanline::detail {

namespace {
std::atomic<BeforeFsyncHook> before_fsync_hook{nullptr};
}  // namespace

void set_before_fsync_hook_for_testing(BeforeFsyncHook hook) noexcept {
  before_fsync_hook.store(hook, std::memory_order_release);
}

struct SpoolWriter::SegmentFile {
  SegmentFile(int fd_in, std::uint64_t segment_in, std::filesystem::path path_in, std::uint64_t size_in)
      : fd(fd_in), segment(segment_in), path(std::move(path_in)), size(size_in) {}
  ~SegmentFile() { ::close(fd); }
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  int fd;
  std::uint64_t segment;
  std::filesystem::path path;
  std::uint64_t size;  // bytes written (only whole records)
};

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// 0 or the errno of the failure.
int write_all(int fd, std::string_view bytes, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

SpoolWriter::SpoolWriter(const SpoolOptions& options, SegmentCatalog& catalog, AckJournal& journal,
                         int directory_fd, std::uint64_t first_segment)
    : options_(options),
      catalog_(catalog),
      journal_(journal),
      directory_fd_(directory_fd),
      next_segment_(first_segment) {}

SpoolWriter::~SpoolWriter() { close(); }

void SpoolWriter::start() {
  std::lock_guard lock(mutex_);
  if (flusher_.joinable() || closed_) return;
  flusher_ = std::thread([this] {
    name_this_thread("sl-spool-sync");
    run();
  });
}

AppendResult SpoolWriter::append(const SpoolEntry& entry) noexcept {
  AppendResult result;
  try {
    const RecordView view{entry.encoding, entry.source_rows,     entry.raw_bytes,
                          now_unix_ms(),  entry.destination_key, entry.payload};
    const std::uint64_t size = encoded_record_size(view);
    if (entry.destination_key.size() > kMaxDestinationKeyBytes ||
        size - kRecordHeaderBytes > kRecordBodyMax || size + kSegmentHeaderBytes > options_.max_bytes) {
      too_large_.fetch_add(1, std::memory_order_relaxed);
      result.status = SpoolStatus::too_large;
      return result;
    }
    // Encoded outside every lock; the buffer is reused per thread to spare an allocation.
    thread_local std::string buffer;
    buffer.clear();
    encode_record(view, buffer);

    const std::uint64_t reservation = size + kSegmentHeaderBytes;  // room for a new segment's header too
    switch (catalog_.reserve(reservation, entry.source_rows)) {
      case SegmentCatalog::Reservation::ok:
        break;
      case SegmentCatalog::Reservation::full:
        result.status = SpoolStatus::full;
        return result;
      case SegmentCatalog::Reservation::closed:
        result.status = SpoolStatus::closed;
        return result;
    }

    std::unique_lock lock(mutex_);
    if (closed_) {
      lock.unlock();
      catalog_.release(reservation);
      result.status = SpoolStatus::closed;
      return result;
    }
    if (current_ && current_->size > kSegmentHeaderBytes &&
        current_->size + size > options_.segment_max_bytes) {
      rotate_locked();
    }
    std::uint64_t header_used = 0;
    if (!current_) {
      SpoolError error = open_segment_locked();
      if (error) {
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        last_error_ = error;
        lock.unlock();
        catalog_.release(reservation);
        return AppendResult{SpoolStatus::io_error, 0, {}, std::move(error)};
      }
      header_used = kSegmentHeaderBytes;
    }
    SegmentFile& file = *current_;
    const std::uint64_t offset = file.size;
    if (const int err = write_all(file.fd, buffer, offset); err != 0) {
      SpoolError error = make_spool_error(err, "write", file.path);
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      last_error_ = error;
      // Cut the torn record off so the next append does not follow garbage; when even
      // that fails, leave this segment (replay skips the tail) and start a new one.
      if (::ftruncate(file.fd, static_cast<off_t>(offset)) != 0) {
        struct stat st {};
        if (::fstat(file.fd, &st) == 0) file.size = static_cast<std::uint64_t>(st.st_size);
        drop_current_locked();
      }
      lock.unlock();
      catalog_.release(reservation - header_used);
      return AppendResult{SpoolStatus::io_error, 0, {}, std::move(error)};
    }
    file.size += size;
    const std::uint64_t sequence = appended_seq_.load(std::memory_order_relaxed) + 1;
    appended_seq_.store(sequence, std::memory_order_relaxed);
    catalog_.commit_record(file.segment, file.size, size, view.written_unix_ms, entry.rows);
    result.sequence = sequence;
    result.id = RecordId{file.segment, offset};
    bool wake_flusher = false;
    {
      std::lock_guard signal(signal_mutex_);
      // Only the first record after an fsync wakes the flusher; the rest ride along.
      wake_flusher = !dirty_;
      dirty_ = true;
    }
    lock.unlock();
    if (wake_flusher) work_cv_.notify_one();
    catalog_.release(kSegmentHeaderBytes - header_used);

    records_written_.fetch_add(1, std::memory_order_relaxed);
    bytes_written_.fetch_add(size, std::memory_order_relaxed);
    rows_written_.fetch_add(entry.source_rows, std::memory_order_relaxed);
    return result;
  } catch (const std::exception&) {
    // Only allocation can throw here; the record was not written.
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    return AppendResult{
        SpoolStatus::io_error, 0, {}, make_spool_error(ENOMEM, "buffer a record for", options_.directory)};
  }
}

SpoolError SpoolWriter::open_segment_locked() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t segment = next_segment_++;
    std::filesystem::path path = segment_path(options_.directory, segment);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // left by someone else; never append to a file we did not create
      return make_spool_error(errno, "create segment", path);
    }
    const std::string header = encode_segment_header();
    if (const int err = write_all(fd, header, 0); err != 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return make_spool_error(err, "write", path);
    }
    current_ = std::make_shared<SegmentFile>(fd, segment, path, header.size());
    catalog_.add_active(segment, std::move(path), header.size());
    directory_dirty_ = true;
    segments_created_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  return make_spool_error(EEXIST, "create segment in", options_.directory);
}

void SpoolWriter::rotate_locked() {
  if (!current_) return;
  catalog_.seal(current_->segment, current_->size);
  pending_seal_.push_back(std::move(current_));
  current_.reset();
  {
    std::lock_guard signal(signal_mutex_);
    seal_pending_ = true;
  }
  work_cv_.notify_one();
}

void SpoolWriter::drop_current_locked() {
  if (!current_) return;
  catalog_.seal(current_->segment, current_->size);
  current_.reset();
}

SpoolStatus SpoolWriter::wait_durable(std::uint64_t sequence,
                                      std::chrono::steady_clock::time_point deadline) noexcept {
  if (sequence == 0) return SpoolStatus::ok;
  std::unique_lock signal(signal_mutex_);
  if (options_.sync_on_wait && sequence > durable_seq_ && sequence > max_waited_seq_) {
    max_waited_seq_ = sequence;
    work_cv_.notify_one();
  }
  const auto failed = [&] { return sequence > failed_after_ && sequence <= failed_through_; };
  const bool done = durable_cv_.wait_until(signal, deadline,
                                           [&] { return failed() || durable_seq_ >= sequence || stopped_; });
  if (!done) return SpoolStatus::timeout;
  if (failed()) return SpoolStatus::io_error;
  if (durable_seq_ >= sequence) return SpoolStatus::ok;
  return SpoolStatus::closed;
}

SpoolStatus SpoolWriter::sync(std::chrono::steady_clock::time_point deadline) noexcept {
  const std::uint64_t target = appended_seq_.load(std::memory_order_acquire);
  {
    std::lock_guard signal(signal_mutex_);
    sync_requested_ = true;
  }
  work_cv_.notify_one();
  return wait_durable(target, deadline);
}

void SpoolWriter::wake_maintenance() noexcept {
  {
    std::lock_guard signal(signal_mutex_);
    maintenance_ = true;
  }
  work_cv_.notify_one();
}

void SpoolWriter::wake_for_acks() noexcept {
  bool wake = false;
  {
    std::lock_guard signal(signal_mutex_);
    wake = !acks_dirty_;
    acks_dirty_ = true;
  }
  if (wake) work_cv_.notify_one();
}

void SpoolWriter::run() noexcept {
  std::unique_lock signal(signal_mutex_);
  for (;;) {
    if (maintenance_) {
      maintenance_ = false;
      signal.unlock();
      do_maintenance();
      signal.lock();
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    const bool interval_passed = last_sync_.passed(now, options_.fsync_interval);
    const bool acks_interval_passed = last_ack_sync_.passed(now, options_.fsync_interval);
    const bool waited_for = max_waited_seq_ > durable_seq_;
    if (seal_pending_ || (dirty_ && (interval_passed || sync_requested_ || stop_ || waited_for))) {
      signal.unlock();
      sync_once();  // acknowledgements ride along when due
      signal.lock();
      continue;
    }
    if (acks_dirty_ && (acks_interval_passed || sync_requested_ || stop_)) {
      signal.unlock();
      sync_acks();
      signal.lock();
      continue;
    }
    sync_requested_ = false;  // nothing written since the last fsync
    if (stop_) break;
    const auto ready = [&] {
      return stop_ || maintenance_ || sync_requested_ || seal_pending_ ||
             (dirty_ && max_waited_seq_ > durable_seq_);
    };
    if (dirty_ || acks_dirty_) {
      auto until = std::chrono::steady_clock::time_point::max();
      if (dirty_) until = last_sync_.due(options_.fsync_interval);
      if (acks_dirty_) until = std::min(until, last_ack_sync_.due(options_.fsync_interval));
      work_cv_.wait_until(signal, until, ready);
    } else {
      work_cv_.wait(signal, [&] { return ready() || dirty_ || acks_dirty_; });
    }
  }
  stopped_ = true;
  signal.unlock();
  durable_cv_.notify_all();
}

void SpoolWriter::sync_once() {
  std::vector<std::shared_ptr<SegmentFile>> files;
  std::uint64_t target = 0;
  bool directory = false;
  bool acks_due = false;
  {
    std::lock_guard lock(mutex_);
    std::lock_guard signal(signal_mutex_);
    // Acknowledgements ride along only once their own interval has passed (or on request):
    // nobody waits for them (one lost in a crash costs a duplicate replay), and an fsync of
    // theirs after every durable commit delayed the next commit's fsync behind it.
    acks_due = stop_ || sync_requested_ ||
               last_ack_sync_.passed(std::chrono::steady_clock::now(), options_.fsync_interval);
    files.swap(pending_seal_);
    seal_pending_ = false;
    if (dirty_ && current_) files.push_back(current_);
    dirty_ = false;
    sync_requested_ = false;
    // Every record up to here is in one of `files` (a rotation moves the active file
    // to pending_seal_ under mutex_), so their fsync covers it.
    target = appended_seq_.load(std::memory_order_relaxed);
    directory = directory_dirty_;
    directory_dirty_ = false;
  }
  SpoolError error;
  std::shared_ptr<SegmentFile> failed_file;
  if (!files.empty()) {
    if (const BeforeFsyncHook hook = before_fsync_hook.load(std::memory_order_acquire)) hook();
  }
  for (const auto& file : files) {
    if (::fdatasync(file->fd) != 0 && !error) {
      error = make_spool_error(errno, "fsync", file->path);
      failed_file = file;
    }
  }
  if (directory && ::fsync(directory_fd_) != 0 && !error) {
    error = make_spool_error(errno, "fsync directory", options_.directory);
  }
  files.clear();  // closes the sealed ones
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard signal(signal_mutex_);
    last_sync_.mark(std::chrono::steady_clock::now());
    if (!error) {
      durable_seq_ = std::max(durable_seq_, target);
    } else {
      if (failed_through_ <= durable_seq_) failed_after_ = durable_seq_;
      failed_through_ = target;
    }
  }
  durable_cv_.notify_all();
  if (error) {
    fsync_errors_.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(mutex_);
      // After a failed fsync the kernel may have dropped those pages: stop using the file.
      if (failed_file && current_ == failed_file) drop_current_locked();
      if (directory) directory_dirty_ = true;
    }
    failed_file.reset();
    report(error);
  }
  if (acks_due) sync_acks();
}

void SpoolWriter::sync_acks() {
  {
    std::lock_guard signal(signal_mutex_);
    acks_dirty_ = false;
    last_ack_sync_.mark(std::chrono::steady_clock::now());
  }
  const SpoolError error = journal_.sync();
  if (!error) return;
  // A write that failed, or an fsync: the records concerned are replayed once more after
  // a restart (duplicates), nothing is lost from the segments.
  fsync_errors_.fetch_add(1, std::memory_order_relaxed);
  report(error);
}

void SpoolWriter::report(const SpoolError& error) {
  {
    std::lock_guard lock(mutex_);
    last_error_ = error;
  }
  if (options_.on_error) options_.on_error(error);
}

void SpoolWriter::do_maintenance() {
  SegmentCatalog::Maintenance work = catalog_.take_maintenance();
  if (work.rotate) {
    std::lock_guard lock(mutex_);
    if (current_ && current_->segment == *work.rotate) rotate_locked();
  }
  for (const auto& [segment, path] : work.deletions) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    // The acknowledgements go only once the segment is gone: the other way round, a crash
    // in between would leave a segment whose settled records replay again.
    SpoolError ack_error;
    if (!ec) ack_error = journal_.remove(segment);
    catalog_.deleted(segment, !ec);
    if (ec) report(make_spool_error(ec.value(), "delete", path));
    if (ack_error) report(ack_error);
  }
}

void SpoolWriter::close() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      closed_ = true;
      rotate_locked();
    }
  }
  {
    std::lock_guard signal(signal_mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (flusher_.joinable()) {
    flusher_.join();
    return;
  }
  // Never started (or already joined): make what was written durable here.
  bool pending = false;
  {
    std::lock_guard signal(signal_mutex_);
    pending = !stopped_;
  }
  if (pending) {
    sync_once();
    {
      std::lock_guard signal(signal_mutex_);
      stopped_ = true;
    }
    durable_cv_.notify_all();
  }
}

void SpoolWriter::add_metrics(SpoolMetrics& m) const {
  m.records_written = records_written_.load(std::memory_order_relaxed);
  m.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  m.rows_written = rows_written_.load(std::memory_order_relaxed);
  m.fsyncs = fsyncs_.load(std::memory_order_relaxed);
  m.segments_created = segments_created_.load(std::memory_order_relaxed);
  m.too_large = too_large_.load(std::memory_order_relaxed);
  m.write_errors = write_errors_.load(std::memory_order_relaxed);
  m.fsync_errors = fsync_errors_.load(std::memory_order_relaxed);
}

SpoolError SpoolWriter::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace spanline::detail
