#include "spool/segment_format.hpp"

#include "spool/crc32c.hpp"
#include "spool/little_endian.hpp"

#include <charconv>
#include <cstdio>

namespace spanline::detail {
namespace {

using little_endian::append;
using little_endian::load;
using little_endian::store;

std::uint8_t encoding_byte(Compression c) {
  switch (c) {
    case Compression::none:
      return 0;
    case Compression::zstd:
      return 1;
    case Compression::gzip:
      return 2;
  }
  return 0;
}

std::optional<Compression> encoding_from_byte(std::uint8_t b) {
  switch (b) {
    case 0:
      return Compression::none;
    case 1:
      return Compression::zstd;
    case 2:
      return Compression::gzip;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::size_t encoded_record_size(const RecordView& record) noexcept {
  return kRecordHeaderBytes + kRecordFixedBodyBytes + record.destination_key.size() + record.payload.size();
}

void encode_record(const RecordView& record, std::string& out) {
  const std::size_t start = out.size();
  const auto body_length = static_cast<std::uint32_t>(kRecordFixedBodyBytes + record.destination_key.size() +
                                                      record.payload.size());
  out.reserve(start + kRecordHeaderBytes + body_length);
  out.append(kRecordMarker);
  append<std::uint32_t>(out, body_length);
  append<std::uint32_t>(out, 0);  // CRC, filled below
  out.push_back(static_cast<char>(encoding_byte(record.encoding)));
  out.push_back('\0');
  append<std::uint16_t>(out, static_cast<std::uint16_t>(record.destination_key.size()));
  append<std::uint32_t>(out, record.source_rows);
  append<std::uint32_t>(out, record.raw_bytes);
  append<std::uint64_t>(out, static_cast<std::uint64_t>(record.written_unix_ms));
  out.append(record.destination_key);
  out.append(record.payload);

  std::uint32_t crc = crc32c(out.data() + start + 4, 4);
  crc = crc32c_extend(crc, out.data() + start + kRecordHeaderBytes, body_length);
  store<std::uint32_t>(out.data() + start + 8, crc);
}

std::string encode_segment_header() {
  std::string out(kSegmentMagic);
  append<std::uint32_t>(out, kSpoolFormatVersion);
  append<std::uint32_t>(out, 0);
  return out;
}

HeaderCheck check_segment_header(std::string_view bytes) noexcept {
  if (bytes.size() < kSegmentHeaderBytes) return HeaderCheck::too_short;
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) return HeaderCheck::bad_magic;
  if (load<std::uint32_t>(bytes.data() + 8) != kSpoolFormatVersion) return HeaderCheck::unknown_version;
  return HeaderCheck::ok;
}

std::optional<RecordHeader> parse_record_header(std::string_view bytes) noexcept {
  if (bytes.size() < kRecordHeaderBytes) return std::nullopt;
  if (bytes.substr(0, 4) != kRecordMarker) return std::nullopt;
  RecordHeader h;
  h.body_length = load<std::uint32_t>(bytes.data() + 4);
  h.crc = load<std::uint32_t>(bytes.data() + 8);
  if (h.body_length < kRecordBodyMin || h.body_length > kRecordBodyMax) return std::nullopt;
  return h;
}

bool parse_record_body(const RecordHeader& header, std::string_view body, RecordView& out) noexcept {
  if (body.size() != header.body_length) return false;
  char length_bytes[4];
  store<std::uint32_t>(length_bytes, header.body_length);
  std::uint32_t crc = crc32c(length_bytes, sizeof length_bytes);
  crc = crc32c_extend(crc, body.data(), body.size());
  if (crc != header.crc) return false;

  const auto encoding = encoding_from_byte(static_cast<std::uint8_t>(body[0]));
  if (!encoding) return false;
  const std::size_t key_length = load<std::uint16_t>(body.data() + 2);
  if (kRecordFixedBodyBytes + key_length > body.size()) return false;
  out.encoding = *encoding;
  out.source_rows = load<std::uint32_t>(body.data() + 4);
  out.raw_bytes = load<std::uint32_t>(body.data() + 8);
  out.written_unix_ms = static_cast<std::int64_t>(load<std::uint64_t>(body.data() + 12));
  out.destination_key = body.substr(kRecordFixedBodyBytes, key_length);
  out.payload = body.substr(kRecordFixedBodyBytes + key_length);
  return true;
}

std::filesystem::path numbered_file(const std::filesystem::path& dir, std::uint64_t number,
                                    std::string_view suffix) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(number));
  std::string name(digits);
  name += suffix;
  return dir / name;
}

std::optional<std::uint64_t> parse_numbered_file(std::string_view name, std::string_view suffix) noexcept {
  constexpr std::size_t kDigits = 20;
  if (name.size() != kDigits + suffix.size() || name.substr(kDigits) != suffix) return std::nullopt;
  const auto digits = name.substr(0, kDigits);
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;  // from_chars would also take a sign
  }
  std::uint64_t number = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return number;
}

std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t sequence) {
  return numbered_file(dir, sequence, ".spool");
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept {
  return parse_numbered_file(name, ".spool");
}

}  // namespace spanline::detail
