#pragma once
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI, ext4 and
// LevelDB. Protects spool records on disk. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once at run time), slicing-by-8 tables otherwise.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace spanline::detail {

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a + b). Start with 0.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) noexcept;

inline std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  return crc32c_extend(0, data, size);
}
inline std::uint32_t crc32c(std::string_view bytes) noexcept {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

// The two implementations, exposed so tests can check both on any machine.
std::uint32_t crc32c_extend_portable(std::uint32_t crc, const void* data, std::size_t size) noexcept;
// Falls back to the portable code when the CPU lacks SSE4.2.
std::uint32_t crc32c_extend_hardware(std::uint32_t crc, const void* data, std::size_t size) noexcept;
bool crc32c_hardware_available() noexcept;

}  // namespace spanline::detail
