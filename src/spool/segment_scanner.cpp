#include "spool/segment_scanner.hpp"

#include "spool/segment_format.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace spanline::detail {
namespace {

constexpr std::size_t kWindowBytes = 64 << 10;

boost::system::error_code last_os_error() { return {errno, boost::system::system_category()}; }

}  // namespace

std::unique_ptr<SegmentScanner> SegmentScanner::open(const std::filesystem::path& path, std::uint64_t segment,
                                                     boost::system::error_code& ec) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = last_os_error();
    return nullptr;
  }
  ec = {};
  return std::unique_ptr<SegmentScanner>(new SegmentScanner(fd, segment));
}

SegmentScanner::~SegmentScanner() {
  if (fd_ >= 0) ::close(fd_);
}

bool SegmentScanner::load(std::uint64_t offset, std::size_t size, std::uint64_t limit, std::string_view& view,
                          boost::system::error_code& ec) {
  if (offset >= window_offset_ && offset + size <= window_offset_ + window_.size()) {
    view = std::string_view(window_).substr(offset - window_offset_, size);
    return true;
  }
  // Read ahead a whole window so that small records cost one read per window, not two per record.
  const std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(std::max(size, kWindowBytes), limit - offset));
  window_.resize(std::max(want, size));
  window_offset_ = offset;
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd_, window_.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      ec = last_os_error();
      window_.clear();
      return false;
    }
    if (n == 0) break;  // the file is shorter than the limit: treated as a truncated tail
    got += static_cast<std::size_t>(n);
  }
  window_.resize(got);
  if (got < size) return false;
  view = std::string_view(window_).substr(0, size);
  return true;
}

SegmentScanner::Probe SegmentScanner::probe(std::uint64_t offset, std::uint64_t limit, SpoolRecord* out,
                                            boost::system::error_code& ec) {
  if (limit - offset < kRecordHeaderBytes) return Probe::overrun;
  std::string_view bytes;
  if (!load(offset, kRecordHeaderBytes, limit, bytes, ec)) return ec ? Probe::io_error : Probe::overrun;
  const auto header = parse_record_header(bytes);
  if (!header) return Probe::invalid;
  const std::uint64_t size = kRecordHeaderBytes + std::uint64_t{header->body_length};
  if (size > limit - offset) return Probe::overrun;
  if (!load(offset, static_cast<std::size_t>(size), limit, bytes, ec))
    return ec ? Probe::io_error : Probe::overrun;
  RecordView record;
  if (!parse_record_body(*header, bytes.substr(kRecordHeaderBytes), record)) return Probe::invalid;
  if (out != nullptr) {
    out->id = RecordId{segment_, offset};
    out->size = size;
    out->destination_key.assign(record.destination_key);
    out->encoding = record.encoding;
    out->source_rows = record.source_rows;
    out->raw_bytes = record.raw_bytes;
    out->written_unix_ms = record.written_unix_ms;
    out->payload.assign(record.payload);
    out->crc = header->crc;
  }
  return Probe::valid;
}

std::uint64_t SegmentScanner::resync(std::uint64_t from, std::uint64_t limit, boost::system::error_code& ec) {
  std::uint64_t at = from;
  while (at < limit && limit - at >= kRecordHeaderBytes) {
    const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(kWindowBytes, limit - at));
    std::string_view bytes;
    if (!load(at, chunk, limit, bytes, ec)) return limit;
    const std::size_t hit = bytes.find(kRecordMarker);
    if (hit == std::string_view::npos) {
      if (chunk < kWindowBytes) break;
      at += chunk - (kRecordMarker.size() - 1);  // a marker may straddle two chunks
      continue;
    }
    const std::uint64_t candidate = at + hit;
    const Probe probed = probe(candidate, limit, nullptr, ec);
    if (probed == Probe::valid) return candidate;
    if (probed == Probe::io_error) return limit;
    at = candidate + 1;
  }
  return limit;
}

SegmentScanner::Result SegmentScanner::next(std::uint64_t limit, SpoolRecord& out) {
  Result result;
  if (position_ == 0) {
    if (limit == 0) return result;
    if (limit < kSegmentHeaderBytes) {
      // A crash right after the file was created: nothing but part of a header.
      position_ = limit;
      return Result{Step::truncated, 0, limit, {}};
    }
    std::string_view header;
    if (!load(0, kSegmentHeaderBytes, limit, header, result.error)) {
      if (result.error) return Result{Step::error, 0, 0, result.error};
      position_ = limit;
      return Result{Step::truncated, 0, limit, {}};
    }
    switch (check_segment_header(header)) {
      case HeaderCheck::ok:
        position_ = kSegmentHeaderBytes;
        break;
      case HeaderCheck::unknown_version:
        return Result{Step::unknown_version, 0, 0, {}};
      case HeaderCheck::bad_magic:
      case HeaderCheck::too_short:
        // Records carry their own checks, so a damaged header costs only itself.
        position_ = kSegmentHeaderBytes;
        return Result{Step::corrupt, 0, kSegmentHeaderBytes, {}};
    }
  }
  if (position_ >= limit) return result;

  const std::uint64_t start = position_;
  const Probe probed = probe(start, limit, &out, result.error);
  switch (probed) {
    case Probe::valid:
      position_ = start + out.size;
      result.step = Step::record;
      result.offset = start;
      result.bytes = out.size;
      return result;
    case Probe::io_error:
      return Result{Step::error, start, 0, result.error};
    case Probe::invalid:
    case Probe::overrun:
      break;
  }
  const std::uint64_t resume = resync(start + 1, limit, result.error);
  if (result.error) return Result{Step::error, start, 0, result.error};
  position_ = resume;
  // A record that runs past the end with nothing valid after it is the classic torn
  // tail of a crash mid-write; anything else is damage in the middle.
  const bool torn_tail = probed == Probe::overrun && resume == limit;
  return Result{torn_tail ? Step::truncated : Step::corrupt, start, resume - start, {}};
}

bool SegmentScanner::read_at(std::uint64_t offset, std::uint64_t limit, SpoolRecord& out,
                             boost::system::error_code& ec) {
  ec = {};
  if (offset >= limit) return false;
  return probe(offset, limit, &out, ec) == Probe::valid;
}

}  // namespace spanline::detail
