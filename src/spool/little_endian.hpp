#pragma once
// Little-endian integers in the spool's files (segments and ack journals), written
// and read byte by byte so the format does not depend on the host.

#include <cstdint>
#include <string>

namespace spanline::detail::little_endian {

template <typename Unsigned>
void store(char* p, Unsigned v) noexcept {
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}

template <typename Unsigned>
void append(std::string& out, Unsigned v) {
  char bytes[sizeof(Unsigned)];
  store(bytes, v);
  out.append(bytes, sizeof bytes);
}

template <typename Unsigned>
Unsigned load(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  Unsigned v = 0;
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i) v = static_cast<Unsigned>(v | (Unsigned{u[i]} << (8 * i)));
  return v;
}

}  // namespace spanline::detail::little_endian
