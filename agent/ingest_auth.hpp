#pragma once
// Who may use the HTTP ingest. Every request must carry `Authorization: Bearer <token>`,
// where the token is the daemon's API key (api.key, what an official SDK already sends) or
// one of the ingest tokens (ingest.tokens, ingest.token_file). A request that carries an
// Origin header comes from a browser page; it is refused unless that origin is listed in
// ingest.allowed_origins, so a web page cannot write rows with the daemon's key. Bodies that
// are parsed (inserts, /logs3) must say `Content-Type: application/json`: a browser can send
// text/plain cross-site without asking first, application/json it cannot.
//
// See docs/authentication.md. Thread safety: check() and the accessors are const and may be
// called from every I/O thread at once.

#include "daemon_config.hpp"
#include "http_server.hpp"
#include "ingest_counters.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanline::agent {

// Why a request was refused; stable names (to_string) for /metrics and the JSON error.
enum class AuthRefusal : std::uint8_t {
  missing_credentials,  // 401: no Authorization header, or not "Bearer <token>"
  bad_credentials,      // 401: a bearer token that matches nothing
  origin_not_allowed,   // 403: an Origin header not in ingest.allowed_origins
  bad_content_type,     // 415: a body that is not declared application/json
};
inline constexpr std::size_t kAuthRefusalCount = 4;
static_assert(kAuthRefusalCount == kAuthRefusalSlots, "IngestCounters keeps one slot per AuthRefusal");
std::string_view to_string(AuthRefusal refusal);

// Reads ingest.token_file: one token per line; blank lines and lines starting with '#' are
// skipped, surrounding whitespace trimmed. Throws std::invalid_argument naming the file (never
// its content) when it cannot be read or holds no token.
std::vector<std::string> read_token_file(const std::string& path);

class IngestAuth {
 public:
  // `tokens` are every accepted bearer token; the API key is one of them when it is set.
  // Empty tokens are ignored.
  IngestAuth(std::vector<std::string> tokens, std::vector<std::string> allowed_origins);

  // The daemon's tokens: api.key, ingest.tokens and the lines of ingest.token_file (read now;
  // throws std::invalid_argument as read_token_file does).
  static IngestAuth from_config(const DaemonConfig& config);

  // False when no token is configured at all: then no request can prove anything, and the
  // ingest is open to whoever can reach it (allowed on loopback only; see daemon.cpp).
  bool requires_token() const { return !tokens_.empty(); }

  struct Refused {
    AuthRefusal reason;
    unsigned status;   // 401, 403 or 415
    std::string body;  // {"error":{"message":...,"reason":...}}; names no token
  };
  // Checks the Origin and Authorization headers; every route, before it is dispatched.
  std::optional<Refused> check(const HttpRequest& request) const;
  // For the routes that parse a JSON body (inserts, /logs3): its Content-Type must say so.
  static std::optional<Refused> check_json_content_type(const HttpRequest& request);

  // For an allowed Origin, the CORS headers a browser needs to read the answer; a preflight
  // (OPTIONS with Access-Control-Request-Method) is answered here. Returns the answer for a
  // preflight, nothing otherwise.
  std::optional<HttpResponse> preflight(const HttpRequest& request) const;
  // `origin`: the request's Origin header ("" when it had none: nothing is added).
  void add_cors_headers(std::string_view origin, HttpResponse& response) const;

 private:
  bool token_matches(std::string_view presented) const;
  bool origin_allowed(std::string_view origin) const;

  std::vector<std::string> tokens_;
  std::vector<std::string> allowed_origins_;
};

// True for 127.0.0.0/8 and ::1 (and ::ffff:127.x.y.z): only local processes can connect.
bool is_loopback(const ListenAddress& address);

// Startup check of what the listeners expose: logs a warning for each listener (HTTP ingest,
// TCP ingest, admin) bound to a non-loopback address, and throws std::invalid_argument for an
// unauthenticated ingest on one: the TCP NDJSON ingest (which has no authentication) or an
// HTTP ingest with no token configured.
void check_listener_exposure(const DaemonConfig& config, const IngestAuth& auth);

// Equal in time that depends only on the lengths, not on where the bytes first differ.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace spanline::agent
