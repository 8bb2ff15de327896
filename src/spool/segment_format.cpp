#include "spool/segment_format.hpp"

#include "spool/crc32c.hpp"

#include <charconv>
#include <cstdio>

namespace spanline::detail {
namespace {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xffu));
  out.push_back(static_cast<char>(v >> 8));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}
void store_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}
std::uint16_t get_u16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(u[0] | (u[1] << 8));
}
std::uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} | (std::uint32_t{u[1]} << 8) | (std::uint32_t{u[2]} << 16) |
         (std::uint32_t{u[3]} << 24);
}
std::uint64_t get_u64(const char* p) {
  return std::uint64_t{get_u32(p)} | (std::uint64_t{get_u32(p + 4)} << 32);
}

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
  put_u32(out, body_length);
  put_u32(out, 0);  // CRC, filled below
  out.push_back(static_cast<char>(encoding_byte(record.encoding)));
  out.push_back('\0');
  put_u16(out, static_cast<std::uint16_t>(record.destination_key.size()));
  put_u32(out, record.source_rows);
  put_u32(out, record.raw_bytes);
  put_u64(out, static_cast<std::uint64_t>(record.written_unix_ms));
  out.append(record.destination_key);
  out.append(record.payload);

  std::uint32_t crc = crc32c(out.data() + start + 4, 4);
  crc = crc32c_extend(crc, out.data() + start + kRecordHeaderBytes, body_length);
  store_u32(out.data() + start + 8, crc);
}

std::string encode_segment_header() {
  std::string out(kSegmentMagic);
  put_u32(out, kSpoolFormatVersion);
  put_u32(out, 0);
  return out;
}

HeaderCheck check_segment_header(std::string_view bytes) noexcept {
  if (bytes.size() < kSegmentHeaderBytes) return HeaderCheck::too_short;
  if (bytes.substr(0, kSegmentMagic.size()) != kSegmentMagic) return HeaderCheck::bad_magic;
  if (get_u32(bytes.data() + 8) != kSpoolFormatVersion) return HeaderCheck::unknown_version;
  return HeaderCheck::ok;
}

std::optional<RecordHeader> parse_record_header(std::string_view bytes) noexcept {
  if (bytes.size() < kRecordHeaderBytes) return std::nullopt;
  if (bytes.substr(0, 4) != kRecordMarker) return std::nullopt;
  RecordHeader h;
  h.body_length = get_u32(bytes.data() + 4);
  h.crc = get_u32(bytes.data() + 8);
  if (h.body_length < kRecordBodyMin || h.body_length > kRecordBodyMax) return std::nullopt;
  return h;
}

bool parse_record_body(const RecordHeader& header, std::string_view body, RecordView& out) noexcept {
  if (body.size() != header.body_length) return false;
  char length_bytes[4];
  store_u32(length_bytes, header.body_length);
  std::uint32_t crc = crc32c(length_bytes, sizeof length_bytes);
  crc = crc32c_extend(crc, body.data(), body.size());
  if (crc != header.crc) return false;

  const auto encoding = encoding_from_byte(static_cast<std::uint8_t>(body[0]));
  if (!encoding) return false;
  const std::size_t key_length = get_u16(body.data() + 2);
  if (kRecordFixedBodyBytes + key_length > body.size()) return false;
  out.encoding = *encoding;
  out.source_rows = get_u32(body.data() + 4);
  out.raw_bytes = get_u32(body.data() + 8);
  out.written_unix_ms = static_cast<std::int64_t>(get_u64(body.data() + 12));
  out.destination_key = body.substr(kRecordFixedBodyBytes, key_length);
  out.payload = body.substr(kRecordFixedBodyBytes + key_length);
  return true;
}

std::filesystem::path segment_path(const std::filesystem::path& dir, std::uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.spool", static_cast<unsigned long long>(sequence));
  return dir / name;
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept {
  constexpr std::string_view kSuffix = ".spool";
  if (name.size() != 20 + kSuffix.size() || name.substr(20) != kSuffix) return std::nullopt;
  std::uint64_t sequence = 0;
  const auto digits = name.substr(0, 20);
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), sequence);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) return std::nullopt;
  return sequence;
}

}  // namespace spanline::detail
