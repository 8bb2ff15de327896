#pragma once
// Helpers shared by the spool tests: a temporary directory that removes itself, and
// deterministic records.

#include "codec/codec.hpp"
#include "spool/segment_format.hpp"
#include "spool/segment_scanner.hpp"
#include "spool/spool.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace spanline::detail::spool_test {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("spanline-spool-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(counter++) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A payload whose bytes depend on `index`, so replay can be checked exactly.
inline std::string make_payload(std::uint32_t index, std::size_t size) {
  std::string s(size, '\0');
  std::mt19937 rng(index * 2654435761u + 17);
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

inline std::string make_key(std::uint32_t index) {
  return "project_logs:00000000-0000-4000-8000-" + std::to_string(100000000000 + index % 7);
}

struct Written {
  std::uint32_t index = 0;
  AppendResult result;
};

inline SpoolEntry make_entry(std::uint32_t index, const std::string& key, const std::string& payload) {
  return SpoolEntry{.destination_key = key,
                    .encoding = index % 3 == 0 ? Compression::gzip : Compression::zstd,
                    .source_rows = index % 50 + 1,
                    .raw_bytes = static_cast<std::uint32_t>(payload.size() * 4),
                    .payload = payload};
}

// Appends `count` records starting at `first`, payload sizes cycling through [min, max].
inline std::vector<Written> append_records(Spool& spool, std::uint32_t first, std::uint32_t count,
                                           std::size_t min_size = 100, std::size_t max_size = 3000) {
  std::vector<Written> out;
  for (std::uint32_t i = first; i < first + count; ++i) {
    const std::size_t size = min_size + (i * 7919u) % (max_size - min_size + 1);
    const std::string payload = make_payload(i, size);
    const std::string key = make_key(i);
    out.push_back(Written{i, spool.append(make_entry(i, key, payload))});
  }
  return out;
}

// Checks that `record` is exactly what append_records() wrote for `index`.
inline void expect_record(const SpoolRecord& record, std::uint32_t index, std::size_t min_size = 100,
                          std::size_t max_size = 3000) {
  const std::size_t size = min_size + (index * 7919u) % (max_size - min_size + 1);
  EXPECT_EQ(record.destination_key, make_key(index));
  EXPECT_EQ(record.source_rows, index % 50 + 1);
  EXPECT_EQ(record.encoding, index % 3 == 0 ? Compression::gzip : Compression::zstd);
  EXPECT_EQ(record.raw_bytes, size * 4);
  EXPECT_TRUE(record.payload == make_payload(index, size)) << "payload of record " << index;
  EXPECT_GT(record.written_unix_ms, 0);
}

inline std::vector<SpoolRecord> drain(Spool& spool) {
  std::vector<SpoolRecord> out;
  while (auto record = spool.next_record()) out.push_back(std::move(*record));
  return out;
}

inline std::vector<std::filesystem::path> segment_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".spool") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// True when some record in the spool directory holds `needle` in its decoded payload. Reads
// the segment files directly, so it works while a logger's spool holds them open.
inline bool spool_holds_text(const std::filesystem::path& dir, const std::string& needle) {
  for (const auto& file : segment_files(dir)) {
    const auto segment = parse_segment_name(file.filename().string());
    std::error_code size_error;
    const auto size = std::filesystem::file_size(file, size_error);
    if (!segment || size_error) continue;
    boost::system::error_code ec;
    auto scanner = SegmentScanner::open(file, *segment, ec);
    if (!scanner) continue;
    SpoolRecord record;
    for (;;) {
      const auto step = scanner->next(size, record);
      using Step = SegmentScanner::Step;
      if (step.step == Step::end || step.step == Step::error || step.step == Step::unknown_version) break;
      if (step.step != Step::record) continue;
      try {
        const std::string raw = record.encoding == Compression::none
                                    ? record.payload
                                    : decompress(record.encoding, record.payload, record.raw_bytes + 1);
        if (raw.find(needle) != std::string::npos) return true;
      } catch (const std::exception&) {
        // A record that does not decode holds nothing to find.
      }
    }
  }
  return false;
}

inline std::unique_ptr<Spool> open_or_fail(const SpoolOptions& options) {
  SpoolError error;
  auto spool = Spool::open(options, error);
  EXPECT_TRUE(spool != nullptr) << error.message;
  return spool;
}

}  // namespace spanline::detail::spool_test
