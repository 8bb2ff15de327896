#pragma once
// The API base URL, split into what the transport needs to connect and to build
// request targets: "https://api.braintrust.dev", "http://127.0.0.1:8080/bt".

#include <cstdint>
#include <string>
#include <string_view>

namespace spanline::detail {

struct BaseUrl {
  bool tls = true;           // https
  std::string host;          // without brackets for IPv6 ("::1")
  std::uint16_t port = 443;  // 443 for https, 80 for http unless given
  std::string prefix;        // "" or "/bt": no trailing slash; prepended to every path

  // Value for the Host header: the port only when it is not the scheme's default.
  std::string host_header() const;
  // prefix + path, e.g. target("/v1/project") == "/bt/v1/project".
  std::string target(std::string_view path) const;
  // True when `host` is a literal IPv4 or IPv6 address (no name resolution, no SNI).
  bool host_is_ip() const;
};

// Parses an http or https base URL. Throws std::invalid_argument naming the value
// for anything else (other schemes, no host, user info, query, fragment, bad port);
// the value is shown through redact_url(), so credentials in it never appear.
BaseUrl parse_base_url(std::string_view url);

// True when the URL's authority holds user info ("https://user:secret@host").
bool url_has_credentials(std::string_view url) noexcept;
// The URL with any user info replaced by "<redacted>", for messages and --print-config.
std::string redact_url(std::string_view url);

}  // namespace spanline::detail
