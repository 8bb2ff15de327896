#pragma once
// Streams the records of one segment file, oldest first, holding one record (and a
// 64 KiB read window) in memory. Damaged bytes are skipped: after a bad record the
// scanner searches forward for the next record marker whose record checks out.
// Reads only below a caller-given limit, so it can follow a segment that the writer is
// still appending to (the limit is then the end of the last complete record).
// Not thread-safe; one scanner per reader.

#include "spool/spool_types.hpp"

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace spanline::detail {

class SegmentScanner {
 public:
  enum class Step {
    record,           // `out` holds the next record
    corrupt,          // [offset, offset + bytes) was damaged and skipped
    truncated,        // [offset, offset + bytes) is an incomplete record at the end, skipped
    end,              // nothing more below the limit
    unknown_version,  // the header names another format version: skip the segment
    error,            // a read failed: see `error`
  };
  struct Result {
    Step step = Step::end;
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
    boost::system::error_code error;
  };

  // nullptr with `ec` set when the file cannot be opened.
  static std::unique_ptr<SegmentScanner> open(const std::filesystem::path& path, std::uint64_t segment,
                                              boost::system::error_code& ec);
  ~SegmentScanner();
  SegmentScanner(const SegmentScanner&) = delete;
  SegmentScanner& operator=(const SegmentScanner&) = delete;

  // `limit`: bytes of the file that may be read; must not shrink between calls.
  Result next(std::uint64_t limit, SpoolRecord& out);
  // Reads the single record at `offset`; false when it is not a valid record there.
  bool read_at(std::uint64_t offset, std::uint64_t limit, SpoolRecord& out, boost::system::error_code& ec);

  std::uint64_t position() const noexcept { return position_; }

 private:
  SegmentScanner(int fd, std::uint64_t segment) : fd_(fd), segment_(segment) {}

  enum class Probe { valid, invalid, overrun, io_error };
  // Checks the record at `offset`; fills `out` when non-null and valid.
  Probe probe(std::uint64_t offset, std::uint64_t limit, SpoolRecord* out, boost::system::error_code& ec);
  // The offset of the next valid record at or after `from`; `limit` when there is none.
  std::uint64_t resync(std::uint64_t from, std::uint64_t limit, boost::system::error_code& ec);
  // Makes file bytes [offset, offset + size) available in `window_`; false on a short read.
  bool load(std::uint64_t offset, std::size_t size, std::uint64_t limit, std::string_view& view,
            boost::system::error_code& ec);

  int fd_ = -1;
  std::uint64_t segment_ = 0;
  std::uint64_t position_ = 0;
  std::string window_;
  std::uint64_t window_offset_ = 0;
};

}  // namespace spanline::detail
