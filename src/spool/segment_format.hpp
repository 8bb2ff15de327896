#pragma once
// On-disk format of spool segments. All integers are little-endian.
//
// A segment is one append-only file `<dir>/<sequence as 20 decimal digits>.spool`:
//
//   segment header, 16 bytes
//     0   8  magic "SPLSPOOL"
//     8   4  u32 format version (kSpoolFormatVersion)
//     12  4  u32 reserved, 0
//   then records back to back, each:
//     0   4  u32 sync marker, the bytes "SPLR" (lets a reader resynchronise after damage)
//     4   4  u32 body length L: the bytes after this 12-byte record header
//     8   4  u32 CRC32C over the 4 length bytes (offset 4..8) followed by the L body bytes
//     12  L  body:
//              0   1  u8  encoding of the payload: 0 none, 1 zstd, 2 gzip
//              1   1  u8  reserved, 0
//              2   2  u16 K, destination key length
//              4   4  u32 source_rows (rows as logged that the payload stands for)
//              8   4  u32 raw_bytes (size of the payload once decompressed)
//              12  8  i64 written_unix_ms (wall clock when appended)
//              20  K  destination key (Destination::key() text, e.g. "project_logs:<uuid>")
//              20+K   payload: the request body {"events":[...]}, encoded as above
//
// A record is valid when its marker matches, kRecordBodyMin <= L <= kRecordBodyMax, the
// whole record lies inside the file, the CRC matches and K fits in L. The CRC covers the
// length field, so a damaged length is caught even when it still points inside the file.
//
// Which records of a segment were acknowledged is kept beside it, in `<...>.acks`
// (ack_journal.hpp): segments themselves are never rewritten.

#include <spanline/options.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace spanline::detail {

inline constexpr std::string_view kSegmentMagic = "SPLSPOOL";
inline constexpr std::uint32_t kSpoolFormatVersion = 1;
inline constexpr std::size_t kSegmentHeaderBytes = 16;

inline constexpr std::string_view kRecordMarker = "SPLR";
inline constexpr std::size_t kRecordHeaderBytes = 12;
inline constexpr std::size_t kRecordFixedBodyBytes = 20;
inline constexpr std::size_t kRecordBodyMin = kRecordFixedBodyBytes;
inline constexpr std::size_t kRecordBodyMax = std::size_t{256} << 20;
inline constexpr std::size_t kMaxDestinationKeyBytes = 0xffff;

// The fields of one record, borrowing its strings.
struct RecordView {
  Compression encoding = Compression::none;
  std::uint32_t source_rows = 0;
  std::uint32_t raw_bytes = 0;
  std::int64_t written_unix_ms = 0;
  std::string_view destination_key;
  std::string_view payload;
};

// Size of the whole record (header + body) for these fields.
std::size_t encoded_record_size(const RecordView& record) noexcept;
// Appends the encoded record to `out`. The caller checks the limits above first.
void encode_record(const RecordView& record, std::string& out);

std::string encode_segment_header();
enum class HeaderCheck { ok, bad_magic, unknown_version, too_short };
HeaderCheck check_segment_header(std::string_view bytes) noexcept;

// Record header fields; nullopt when the marker is wrong or the length out of range.
struct RecordHeader {
  std::uint32_t body_length = 0;
  std::uint32_t crc = 0;
};
std::optional<RecordHeader> parse_record_header(std::string_view twelve_bytes) noexcept;
// Checks the CRC and the body layout; on success fills `out` (borrowing from `body`).
bool parse_record_body(const RecordHeader& header, std::string_view body, RecordView& out) noexcept;

// "<dir>/00000000000000000042<suffix>": the spool's files carry their number in 20
// digits, so that they sort by it.
std::filesystem::path numbered_file(const std::filesystem::path& dir, std::uint64_t number,
                                    std::string_view suffix);
// The number of a file named so with this suffix, or nullopt for any other name.
std::optional<std::uint64_t> parse_numbered_file(std::string_view file_name, std::string_view suffix) noexcept;

// "<dir>/00000000000000000042.spool"
std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t sequence);
// The sequence of a segment file name, or nullopt for any other file.
std::optional<std::uint64_t> parse_segment_name(std::string_view file_name) noexcept;

}  // namespace spanline::detail
