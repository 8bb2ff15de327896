// The API base URL parser: any text is either refused with std::invalid_argument or gives
// a BaseUrl whose host header and request targets can be built.
#include "transport/url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  spanline::detail::BaseUrl url;
  try {
    url = spanline::detail::parse_base_url(text);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  if (url.host.empty() || url.port == 0) std::abort();
  if (!url.prefix.empty() && (url.prefix.front() != '/' || url.prefix.back() == '/')) std::abort();
  // Nothing that would split a request line or a header may come through.
  for (const std::string& part : {url.host, url.prefix}) {
    for (const char c : part) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) std::abort();
    }
  }
  (void)url.host_header();
  (void)url.target("/v1/project_logs/p/insert");
  (void)url.host_is_ip();
  return 0;
}
