// The spool's segment scanner on arbitrary file contents, as it finds a segment after a
// crash or on a damaged disk: every step stays inside the file, records come back in
// order, and the scan ends.
//
// Input: one mode byte, then the file. A random record can hardly carry a valid CRC32C,
// so with the mode's low bit set every "SPLR" record that fits in the file gets its CRC
// repaired first: the fuzzer then explores the record bodies, not only the CRC check.
#include "spool/crc32c.hpp"
#include "spool/little_endian.hpp"
#include "spool/segment_format.hpp"
#include "spool/segment_scanner.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

namespace sd = spanline::detail;

void repair_crcs(std::string& file) {
  std::size_t at = file.find(sd::kRecordMarker);
  while (at != std::string::npos && at + sd::kRecordHeaderBytes <= file.size()) {
    std::uint32_t length = 0;
    std::memcpy(&length, file.data() + at + 4, 4);  // little-endian hosts only, as the spool
    if (length <= file.size() - at - sd::kRecordHeaderBytes) {
      std::uint32_t crc = sd::crc32c_extend(0, file.data() + at + 4, 4);
      crc = sd::crc32c_extend(crc, file.data() + at + sd::kRecordHeaderBytes, length);
      std::memcpy(file.data() + at + 8, &crc, 4);
    }
    at = file.find(sd::kRecordMarker, at + 1);
  }
}

// One memory-backed file for the whole run, rewritten for each input: no disk writes.
int memory_file() {
  static const int fd = [] {
    const int created = memfd_create("spanline-fuzz-segment", 0);
    if (created < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    return created;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0) repair_crcs(file);

  const int fd = memory_file();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) {
    std::perror("memfd write");
    std::abort();
  }
  boost::system::error_code ec;
  auto scanner = sd::SegmentScanner::open("/proc/self/fd/" + std::to_string(fd), 1, ec);
  if (!scanner) {
    std::fprintf(stderr, "open: %s\n", ec.message().c_str());
    std::abort();
  }
  // Half the time the limit is short of the file, as while the writer is still appending.
  const std::uint64_t limit = (data[0] & 2) != 0 ? file.size() - file.size() / 4 : file.size();
  std::uint64_t last_end = 0;
  for (std::size_t steps = 0;; ++steps) {
    if (steps > file.size() + 2) {
      std::fprintf(stderr, "scan does not end\n");
      std::abort();
    }
    sd::SpoolRecord record;
    const auto result = scanner->next(limit, record);
    if (result.step == sd::SegmentScanner::Step::end ||
        result.step == sd::SegmentScanner::Step::unknown_version)
      break;
    if (result.step == sd::SegmentScanner::Step::error) {
      std::fprintf(stderr, "read error: %s\n", result.error.message().c_str());
      std::abort();
    }
    if (result.step == sd::SegmentScanner::Step::record) {
      if (record.id.offset < last_end || record.size == 0 || record.id.offset + record.size > limit) {
        std::fprintf(stderr, "record at %llu out of order or past the limit\n",
                     static_cast<unsigned long long>(record.id.offset));
        std::abort();
      }
      last_end = record.id.offset + record.size;
      // What the reader goes on to do with a record: read it again where it lies.
      sd::SpoolRecord again;
      if (!scanner->read_at(record.id.offset, limit, again, ec) || again.payload != record.payload) {
        std::fprintf(stderr, "record at %llu does not read back\n",
                     static_cast<unsigned long long>(record.id.offset));
        std::abort();
      }
    } else if (result.offset < last_end || result.offset + result.bytes > limit || result.bytes == 0) {
      std::fprintf(stderr, "skipped [%llu, +%llu) outside the limit %llu\n",
                   static_cast<unsigned long long>(result.offset),
                   static_cast<unsigned long long>(result.bytes), static_cast<unsigned long long>(limit));
      std::abort();
    }
  }
  return 0;
}
