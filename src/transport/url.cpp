#include "transport/url.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>
#include <optional>
#include <stdexcept>
#include <utility>

namespace spanline::detail {

namespace {

[[noreturn]] void bad_url(std::string_view url, std::string_view why) {
  throw std::invalid_argument("api_url: " + std::string(why) + ", got \"" + redact_url(url) + "\"");
}

// Where the user info of `url` lies: [begin, at) before the authority's last '@';
// nullopt when there is none. Found by hand, not with Boost.URL, so that even a URL
// that does not parse is redacted.
std::optional<std::pair<std::size_t, std::size_t>> userinfo_span(std::string_view url) noexcept {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  const std::size_t begin = scheme_end + 3;
  std::size_t end = url.find_first_of("/?#", begin);
  if (end == std::string_view::npos) end = url.size();
  const std::size_t at = url.substr(begin, end - begin).rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  return std::pair{begin, begin + at};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

bool url_has_credentials(std::string_view url) noexcept { return userinfo_span(url).has_value(); }

std::string redact_url(std::string_view url) {
  const auto span = userinfo_span(url);
  if (!span) return std::string(url);
  std::string out(url.substr(0, span->first));
  out += "<redacted>";
  out += url.substr(span->second);
  return out;
}

std::string BaseUrl::host_header() const {
  // Appended piece by piece: `"[" + host` trips GCC 12's -Wrestrict false positive.
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out;
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  if (port != (tls ? 443 : 80)) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::string BaseUrl::target(std::string_view path) const {
  std::string out = prefix;
  if (path.empty() || path.front() != '/') out += '/';
  out += path;
  return out;
}

bool BaseUrl::host_is_ip() const {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  return !ec;
}

BaseUrl parse_base_url(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) bad_url(url, "not an absolute http(s) URL");
  const boost::urls::url_view& view = *parsed;

  BaseUrl out;
  if (iequals(view.scheme(), "https")) {
    out.tls = true;
  } else if (iequals(view.scheme(), "http")) {
    out.tls = false;
  } else {
    bad_url(url, "scheme must be http or https");
  }
  if (!view.has_authority() || view.encoded_host().empty()) bad_url(url, "no host");
  if (view.has_userinfo()) bad_url(url, "user info is not supported (use api_key)");
  if (view.has_query() || view.has_fragment()) bad_url(url, "query and fragment are not allowed");

  switch (view.host_type()) {
    case boost::urls::host_type::ipv6:
      out.host = view.host_ipv6_address().to_string();
      break;
    case boost::urls::host_type::ipvfuture:
      bad_url(url, "unsupported host");
    default:
      out.host = view.host();  // decoded
  }
  if (out.host.empty()) bad_url(url, "no host");
  // The decoded host goes into the Host header and the TLS name check as it is: a
  // percent-encoded space, CR/LF, '/' or '@' would split the request or aim it elsewhere.
  // Host names (and IPv4 addresses) use letters, digits, '-', '.', and at most '_' / '~'.
  if (view.host_type() != boost::urls::host_type::ipv6) {
    for (const char c : out.host) {
      const bool name_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                             c == '-' || c == '.' || c == '_' || c == '~';
      if (!name_char) bad_url(url, "the host has a character no host name has");
    }
  }

  out.port = out.tls ? 443 : 80;
  if (view.has_port()) {
    std::string_view port_text = view.port();
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      bad_url(url, "bad port");
    }
    out.port = static_cast<std::uint16_t>(value);
  }

  std::string_view path = view.encoded_path();
  // Boost.URL 1.81 reads "host:12ab" as port 12 and path "ab"; a real path starts with '/'.
  if (!path.empty() && path.front() != '/') bad_url(url, "bad port or path");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.prefix = std::string(path);
  return out;
}

}  // namespace spanline::detail
