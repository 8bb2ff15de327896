#include "spool/segment_format.hpp"

#include "spool/segment_scanner.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "support/spool_support.hpp"

namespace spanline::detail {
namespace {

using spool_test::TempDir;

RecordView sample_record(const std::string& key, const std::string& payload) {
  return RecordView{Compression::zstd, 42, 9000, 1'700'000'000'123, key, payload};
}

TEST(SpoolFormat, RecordRoundTrips) {
  const std::string key = "project_logs:0b5c1f0e-6d2a-4c35-9a55-1d9e4c1e2f00";
  const std::string payload = spool_test::make_payload(1, 777);
  std::string bytes;
  encode_record(sample_record(key, payload), bytes);
  ASSERT_EQ(bytes.size(), encoded_record_size(sample_record(key, payload)));
  EXPECT_EQ(bytes.substr(0, 4), "SPLR");

  const auto header = parse_record_header(bytes);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->body_length, bytes.size() - kRecordHeaderBytes);
  RecordView out;
  ASSERT_TRUE(parse_record_body(*header, std::string_view(bytes).substr(kRecordHeaderBytes), out));
  EXPECT_EQ(out.encoding, Compression::zstd);
  EXPECT_EQ(out.source_rows, 42u);
  EXPECT_EQ(out.raw_bytes, 9000u);
  EXPECT_EQ(out.written_unix_ms, 1'700'000'000'123);
  EXPECT_EQ(out.destination_key, key);
  EXPECT_TRUE(out.payload == payload);
}

TEST(SpoolFormat, AnyFlippedByteIsDetected) {
  const std::string key = "project_name:demo";
  const std::string payload = "{\"events\":[{\"id\":\"a\"}]}";
  std::string good;
  encode_record(sample_record(key, payload), good);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    const auto header = parse_record_header(bad);
    RecordView out;
    const bool accepted = header && header->body_length == bad.size() - kRecordHeaderBytes &&
                          parse_record_body(*header, std::string_view(bad).substr(kRecordHeaderBytes), out);
    EXPECT_FALSE(accepted) << "flipped byte " << i;
  }
}

TEST(SpoolFormat, SegmentHeaderAndNames) {
  const std::string header = encode_segment_header();
  EXPECT_EQ(header.size(), kSegmentHeaderBytes);
  EXPECT_EQ(check_segment_header(header), HeaderCheck::ok);
  EXPECT_EQ(check_segment_header(header.substr(0, 10)), HeaderCheck::too_short);
  std::string other_version = header;
  other_version[8] = 2;
  EXPECT_EQ(check_segment_header(other_version), HeaderCheck::unknown_version);
  std::string bad_magic = header;
  bad_magic[0] = 'X';
  EXPECT_EQ(check_segment_header(bad_magic), HeaderCheck::bad_magic);

  EXPECT_EQ(segment_path("/d", 42).filename().string(), "00000000000000000042.spool");
  EXPECT_EQ(parse_segment_name("00000000000000000042.spool"), 42u);
  EXPECT_EQ(parse_segment_name("18446744073709551615.spool"), 18446744073709551615u);
  EXPECT_FALSE(parse_segment_name("0000000000000000042.spool"));
  EXPECT_FALSE(parse_segment_name("0000000000000000004x.spool"));
  EXPECT_FALSE(parse_segment_name("00000000000000000042.spool.tmp"));
  EXPECT_FALSE(parse_segment_name("spool.lock"));
}

// Writes a segment file of `count` records; returns the record offsets and sizes.
std::vector<std::pair<std::uint64_t, std::uint64_t>> write_segment(const std::filesystem::path& path,
                                                                   int count) {
  std::string file = encode_segment_header();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> records;
  for (int i = 0; i < count; ++i) {
    const std::string key = spool_test::make_key(static_cast<std::uint32_t>(i));
    const std::string payload = spool_test::make_payload(static_cast<std::uint32_t>(i), 50 + 300 * i);
    const std::size_t at = file.size();
    encode_record(sample_record(key, payload), file);
    records.emplace_back(at, file.size() - at);
  }
  std::ofstream(path, std::ios::binary).write(file.data(), static_cast<std::streamsize>(file.size()));
  return records;
}

struct ScanSummary {
  std::vector<std::uint64_t> offsets;
  int corrupt = 0;
  int truncated = 0;
  std::uint64_t skipped = 0;
};

ScanSummary scan(const std::filesystem::path& path) {
  boost::system::error_code ec;
  auto scanner = SegmentScanner::open(path, 1, ec);
  EXPECT_TRUE(scanner) << ec.message();
  ScanSummary summary;
  if (!scanner) return summary;
  const auto limit = std::filesystem::file_size(path);
  for (;;) {
    SpoolRecord record;
    const auto step = scanner->next(limit, record);
    if (step.step == SegmentScanner::Step::end) break;
    if (step.step == SegmentScanner::Step::record) summary.offsets.push_back(record.id.offset);
    if (step.step == SegmentScanner::Step::corrupt) ++summary.corrupt;
    if (step.step == SegmentScanner::Step::truncated) ++summary.truncated;
    if (step.step == SegmentScanner::Step::corrupt || step.step == SegmentScanner::Step::truncated) {
      summary.skipped += step.bytes;
    }
    EXPECT_NE(step.step, SegmentScanner::Step::error);
    if (step.step == SegmentScanner::Step::error) break;
  }
  return summary;
}

void flip_byte(const std::filesystem::path& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x20));
}

TEST(SpoolScanner, SkipsDamageAnywhereInARecordAndResyncs) {
  TempDir dir;
  const auto path = dir.path() / "00000000000000000001.spool";
  // Damage in the marker, the length, the CRC, the fixed fields and the payload.
  for (std::uint64_t where : {0u, 5u, 9u, 13u, 40u}) {
    SCOPED_TRACE(where);
    const auto records = write_segment(path, 6);
    flip_byte(path, records[2].first + where);
    const ScanSummary s = scan(path);
    EXPECT_EQ(s.offsets.size(), 5u);
    EXPECT_EQ(s.corrupt, 1);
    EXPECT_EQ(s.truncated, 0);
    EXPECT_EQ(s.skipped, records[2].second);
    EXPECT_EQ(std::count(s.offsets.begin(), s.offsets.end(), records[2].first), 0);
  }
}

TEST(SpoolScanner, TruncatedTailIsCountedAsTruncated) {
  TempDir dir;
  const auto path = dir.path() / "00000000000000000001.spool";
  for (std::uint64_t keep : {1u, 6u, 11u, 12u, 30u}) {
    SCOPED_TRACE(keep);
    const auto records = write_segment(path, 5);
    std::filesystem::resize_file(path, records[4].first + keep);
    const ScanSummary s = scan(path);
    EXPECT_EQ(s.offsets.size(), 4u);
    EXPECT_EQ(s.corrupt, 0);
    EXPECT_EQ(s.truncated, 1);
    EXPECT_EQ(s.skipped, keep);
  }
}

TEST(SpoolScanner, DamagedHeaderCostsOnlyTheHeader) {
  TempDir dir;
  const auto path = dir.path() / "00000000000000000001.spool";
  write_segment(path, 3);
  flip_byte(path, 2);
  const ScanSummary s = scan(path);
  EXPECT_EQ(s.offsets.size(), 3u);
  EXPECT_EQ(s.corrupt, 1);
  EXPECT_EQ(s.skipped, kSegmentHeaderBytes);
}

TEST(SpoolScanner, FollowsAGrowingLimit) {
  TempDir dir;
  const auto path = dir.path() / "00000000000000000001.spool";
  const auto records = write_segment(path, 4);
  boost::system::error_code ec;
  auto scanner = SegmentScanner::open(path, 1, ec);
  ASSERT_TRUE(scanner);
  SpoolRecord record;
  const std::uint64_t first_limit = records[2].first;  // only two records visible yet
  EXPECT_EQ(scanner->next(first_limit, record).step, SegmentScanner::Step::record);
  EXPECT_EQ(scanner->next(first_limit, record).step, SegmentScanner::Step::record);
  EXPECT_EQ(scanner->next(first_limit, record).step, SegmentScanner::Step::end);
  const auto full = std::filesystem::file_size(path);
  EXPECT_EQ(scanner->next(full, record).step, SegmentScanner::Step::record);
  EXPECT_EQ(record.id.offset, records[2].first);
  EXPECT_EQ(scanner->next(full, record).step, SegmentScanner::Step::record);
  EXPECT_EQ(scanner->next(full, record).step, SegmentScanner::Step::end);
}

}  // namespace
}  // namespace spanline::detail
