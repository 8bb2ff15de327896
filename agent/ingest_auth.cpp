#include "ingest_auth.hpp"

#include "log.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <algorithm>
#include <fstream>
#include <stdexcept>

namespace spanline::agent {

namespace http = boost::beast::http;

std::string_view to_string(AuthRefusal refusal) {
  switch (refusal) {
    case AuthRefusal::missing_credentials:
      return "missing_credentials";
    case AuthRefusal::bad_credentials:
      return "bad_credentials";
    case AuthRefusal::origin_not_allowed:
      return "origin_not_allowed";
    case AuthRefusal::bad_content_type:
      return "bad_content_type";
  }
  return "unknown";
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(diff |
                                      (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  }
  return diff == 0;
}

namespace {

std::string_view trim(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::string error_body(std::string_view message, AuthRefusal reason) {
  // Only our own fixed texts: nothing to escape.
  return std::string(R"({"error":{"message":")") + std::string(message) + R"(","reason":")" +
         std::string(to_string(reason)) + "\"}}";
}

}  // namespace

std::vector<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("ingest.token_file: cannot read '" + path + "'");
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    const std::string_view token = trim(line);
    if (token.empty() || token.front() == '#') continue;
    tokens.emplace_back(token);
  }
  if (in.bad()) throw std::invalid_argument("ingest.token_file: error reading '" + path + "'");
  if (tokens.empty()) throw std::invalid_argument("ingest.token_file: '" + path + "' holds no token");
  return tokens;
}

IngestAuth::IngestAuth(std::vector<std::string> tokens, std::vector<std::string> allowed_origins)
    : allowed_origins_(std::move(allowed_origins)) {
  for (auto& token : tokens) {
    if (!token.empty()) tokens_.push_back(std::move(token));
  }
}

IngestAuth IngestAuth::from_config(const DaemonConfig& config) {
  std::vector<std::string> tokens = config.ingest.tokens;
  if (!config.library.api_key.empty()) tokens.push_back(config.library.api_key);
  if (!config.ingest.token_file.empty()) {
    for (auto& token : read_token_file(config.ingest.token_file)) tokens.push_back(std::move(token));
  }
  return IngestAuth(std::move(tokens), config.ingest.allowed_origins);
}

bool IngestAuth::token_matches(std::string_view presented) const {
  // Every token is compared, whatever matched first, so the time taken tells nothing about
  // which token (or how much of one) was guessed right.
  bool matched = false;
  for (const std::string& token : tokens_) matched |= constant_time_equal(presented, token);
  return matched;
}

bool IngestAuth::origin_allowed(std::string_view origin) const {
  return std::any_of(allowed_origins_.begin(), allowed_origins_.end(),
                     [&](const std::string& allowed) { return allowed == "*" || iequals(allowed, origin); });
}

std::optional<IngestAuth::Refused> IngestAuth::check(const HttpRequest& request) const {
  if (const auto origin = request.find(http::field::origin); origin != request.end()) {
    if (!origin_allowed(origin->value())) {
      return Refused{AuthRefusal::origin_not_allowed, 403,
                     error_body("requests from a browser page are refused: the Origin is not in "
                                "ingest.allowed_origins",
                                AuthRefusal::origin_not_allowed)};
    }
  }
  if (requires_token()) {
    const std::string_view header = trim(request[http::field::authorization]);
    constexpr std::string_view scheme = "bearer";
    if (header.size() <= scheme.size() + 1 || !iequals(header.substr(0, scheme.size()), scheme) ||
        header[scheme.size()] != ' ') {
      return Refused{AuthRefusal::missing_credentials, 401,
                     error_body("missing credentials: send Authorization: Bearer <token> with the daemon's "
                                "API key or an ingest token",
                                AuthRefusal::missing_credentials)};
    }
    if (!token_matches(trim(header.substr(scheme.size() + 1)))) {
      return Refused{AuthRefusal::bad_credentials, 401,
                     error_body("invalid credentials: the bearer token is neither the daemon's API key nor "
                                "an ingest token",
                                AuthRefusal::bad_credentials)};
    }
  }
  return std::nullopt;
}

std::optional<IngestAuth::Refused> IngestAuth::check_json_content_type(const HttpRequest& request) {
  std::string_view type = request[http::field::content_type];
  type = trim(type.substr(0, type.find(';')));
  if (iequals(type, "application/json")) return std::nullopt;
  return Refused{
      AuthRefusal::bad_content_type, 415,
      error_body("the body must be sent with Content-Type: application/json", AuthRefusal::bad_content_type)};
}

std::optional<HttpResponse> IngestAuth::preflight(const HttpRequest& request) const {
  if (request.method() != http::verb::options) return std::nullopt;
  const auto origin = request.find(http::field::origin);
  if (origin == request.end() || request.find(http::field::access_control_request_method) == request.end())
    return std::nullopt;
  if (!origin_allowed(origin->value())) return std::nullopt;  // check() refuses it
  HttpResponse response = make_response(request, 204, "");
  response.erase(http::field::content_type);
  add_cors_headers(origin->value(), response);
  response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  response.set(http::field::access_control_allow_headers, "authorization, content-type, content-encoding");
  response.set(http::field::access_control_max_age, "600");
  return response;
}

void IngestAuth::add_cors_headers(std::string_view origin, HttpResponse& response) const {
  if (origin.empty() || !origin_allowed(origin)) return;
  response.set(http::field::access_control_allow_origin, origin);
  response.set(http::field::vary, "Origin");
}

bool is_loopback(const ListenAddress& address) {
  const std::string& host = address.host;
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "0:0:0:0:0:0:0:1" ||
         host.rfind("::ffff:127.", 0) == 0;
}

void check_listener_exposure(const DaemonConfig& config, const IngestAuth& auth) {
  const IngestConfig& in = config.ingest;
  auto exposed = [](const ListenAddress& address) { return address.enabled() && !is_loopback(address); };
  if (exposed(in.tcp)) {
    throw std::invalid_argument("ingest.tcp_listen is " + in.tcp.host +
                                ", not a loopback address: the TCP NDJSON ingest has no authentication, so "
                                "it only listens on 127.0.0.1 or ::1 (use the HTTP ingest with tokens for "
                                "remote clients)");
  }
  if (exposed(in.http)) {
    if (!auth.requires_token()) {
      throw std::invalid_argument("ingest.http_listen is " + in.http.host +
                                  ", not a loopback address, and no credential is configured (api.key, "
                                  "ingest.tokens or ingest.token_file): refusing to serve an unauthenticated "
                                  "ingest to the network");
    }
    log_warn("daemon", "ingest.http_listen is " + in.http.host +
                           ", not a loopback address: other machines can reach the HTTP ingest (bearer "
                           "tokens required)");
  } else if (in.http.enabled() && !auth.requires_token()) {
    log_warn("daemon",
             "no API key and no ingest token: the HTTP ingest accepts requests without credentials "
             "(loopback only)");
  }
  if (exposed(config.admin)) {
    log_warn("daemon", "admin.listen is " + config.admin.host +
                           ", not a loopback address: other machines can read /metrics");
  }
}

}  // namespace spanline::agent
