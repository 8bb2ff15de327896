#include "daemon_settings.hpp"

#include "settings/library_settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

namespace spanline::agent {
namespace {

using settings::Info;
using settings::Range;
using settings::Scope;
using settings::Setting;
using settings::Type;
using T = SettingsTarget;

[[noreturn]] void bad(std::string_view expected, std::string_view value) {
  throw std::invalid_argument("must be " + std::string(expected) + ", got '" + std::string(value) + "'");
}

Info info(std::string name, Type type, std::string description, std::string unit = "") {
  Info out;
  out.name = std::move(name);
  out.type = type;
  out.description = std::move(description);
  out.unit = std::move(unit);
  out.scope = Scope::daemon;
  return out;
}

bool is_ip_literal(std::string_view host) {
  if (host.empty()) return false;
  const bool v4 = std::all_of(host.begin(), host.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
  if (v4) return std::count(host.begin(), host.end(), '.') == 3;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'; });
}

// "127.0.0.1:8787", "[::1]:8787", "localhost:8787", or "off"/"" to disable.
ListenAddress parse_listen(std::string_view text) {
  if (text.empty() || text == "off") return {};
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) bad("host:port or off", text);
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  if (!is_ip_literal(host)) bad("host:port with an IP address (or localhost), or off", text);
  std::uint64_t port = 0;
  try {
    port = settings::parse_count(text.substr(colon + 1), Range{0, 65535});
  } catch (const std::invalid_argument&) {
    bad("host:port with a port in [0, 65535]", text);
  }
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

std::string listen_text(const ListenAddress& address) {
  if (!address.enabled()) return "off";
  if (address.host.find(':') != std::string::npos)
    return "[" + address.host + "]:" + std::to_string(address.port);
  return address.host + ":" + std::to_string(address.port);
}

std::uint32_t parse_mode(std::string_view text) {
  const std::string_view digits = text.substr(text.rfind("0o", 0) == 0 ? 2 : 0);
  std::uint32_t mode = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mode, 8);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || mode > 0777) {
    bad("an octal file mode such as 0660", text);
  }
  return mode;
}

// Bearer tokens use RFC 6750's token68 characters, so one can be written in a header as is.
std::vector<std::string> parse_token_list(std::string_view text) {
  auto tokens = settings::split_list(text);
  for (const auto& token : tokens) {
    const bool ok = token.size() >= 16 && std::all_of(token.begin(), token.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                             c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
                    });
    // The value is secret: the error says what is wrong without echoing it.
    if (!ok)
      throw std::invalid_argument("each token needs at least 16 characters from A-Z a-z 0-9 - . _ ~ + / =");
  }
  return tokens;
}

// "https://app.example.com" (scheme://host[:port], as browsers send Origin) or "*".
std::vector<std::string> parse_origin_list(std::string_view text) {
  auto origins = settings::split_list(text);
  for (const auto& origin : origins) {
    const std::size_t scheme = origin.find("://");
    const bool ok =
        origin == "*" || (scheme != std::string::npos && scheme > 0 && origin.size() > scheme + 3 &&
                          origin.find('/', scheme + 3) == std::string::npos);
    if (!ok) bad("a comma-separated list of origins such as https://app.example.com", origin);
  }
  return origins;
}

// A socket or file path where "off" (or "") means none.
template <class Field>
Setting<T> optional_path(Info i, Field field) {
  return {std::move(i), [field](T& t, std::string_view v) { field(t) = v == "off" ? "" : std::string(v); },
          [field](const T& t) { return field(t).empty() ? std::string("off") : field(t); }};
}

template <class Field>
Setting<T> listen(Info i, Field field) {
  return {std::move(i), [field](T& t, std::string_view v) { field(t) = parse_listen(v); },
          [field](const T& t) { return listen_text(field(t)); }};
}

Setting<T> destination(std::string key, std::string description, std::string DestinationSettings::*field) {
  Info i = info("destination." + key, Type::text, std::move(description));
  i.hide_empty = true;
  return settings::text_setting<T>(
      std::move(i), [field](auto& t) -> auto& { return t.destination.*field; });
}

settings::Registry<T> build() {
  settings::Registry<T> r{T{default_config([](const char*) -> const char* { return nullptr; }), {}}};
  r.add_all(
      settings::library_settings(), [](auto& t) -> auto& { return t.config.library; });

  // ---- ingest
  Info uds = info("ingest.uds_path", Type::path, "Unix stream socket for NDJSON; off disables it");
  uds.default_note = "$RUNTIME_DIRECTORY/spanlined.sock, else /run/spanline/spanlined.sock";
  r.add(optional_path(
      std::move(uds), [](auto& t) -> auto& { return t.config.ingest.uds_path; }));
  r.add({info("ingest.uds_mode", Type::file_mode,
              "octal mode of the Unix sockets: members of the group may write"),
         [](T& t, std::string_view v) { t.config.ingest.uds_mode = parse_mode(v); },
         [](const T& t) {
           std::ostringstream out;
           out << '0' << std::oct << t.config.ingest.uds_mode;
           return out.str();
         }});
  Info datagram =
      info("ingest.datagram_path", Type::path,
           "Unix datagram socket, one event (or several NDJSON lines) per datagram, fire and forget; "
           "off disables it");
  datagram.default_note = "$RUNTIME_DIRECTORY/spanlined.dgram, else /run/spanline/spanlined.dgram";
  r.add(optional_path(
      std::move(datagram), [](auto& t) -> auto& { return t.config.ingest.datagram_path; }));
  r.add(listen(
      info("ingest.tcp_listen", Type::address, "loopback TCP for NDJSON; port 0 picks a free one"),
      [](auto& t) -> auto& { return t.config.ingest.tcp; }));
  r.add(listen(
      info("ingest.http_listen", Type::address, "HTTP ingest speaking the Braintrust insert API"),
      [](auto& t) -> auto& { return t.config.ingest.http; }));
  r.add(settings::size_setting<T>(
      info("ingest.max_line_bytes", Type::size, "longer NDJSON lines are refused (too_long)"),
      [](auto& t) -> auto& { return t.config.ingest.max_line_bytes; }, Range{64, std::uint64_t{64} << 20}));
  r.add(settings::size_setting<T>(
      info("ingest.max_body_bytes", Type::size,
           "larger HTTP bodies, also after decompression, are answered 413"),
      [](auto& t) -> auto& { return t.config.ingest.max_body_bytes; }, Range{1024, std::uint64_t{1} << 30}));
  r.add(settings::count_setting<T>(
      info("ingest.max_connections", Type::count,
           "open connections per listener; more are refused and counted", "connections"),
      [](auto& t) -> auto& { return t.config.ingest.max_connections; }, Range{1, 1'000'000}));
  r.add(settings::duration_setting<T>(
      info("ingest.idle_timeout_ms", Type::duration,
           "idle connections, and lines unfinished this long after their first byte, are closed"),
      [](auto& t) -> auto& { return t.config.ingest.idle_timeout; }, Range{1, std::uint64_t{1} << 40}));
  r.add(settings::count_setting<T>(
      info("ingest.max_depth", Type::count, "deeper JSON nesting is refused (too_deep)", "levels"),
      [](auto& t) -> auto& { return t.config.ingest.max_depth; }, Range{1, 512}));
  r.add(settings::count_setting<T>(
      info("ingest.threads", Type::count, "I/O threads for all listeners", "threads"),
      [](auto& t) -> auto& { return t.config.ingest.threads; }, Range{1, 64}));
  r.add(settings::choice_setting<T>(
      info("ingest.ack", Type::choice,
           "when an answer means delivered: once queued in memory (none) or once fsynced to the spool "
           "(durable, "
           "needs spool.dir)"),
      [](auto& t) -> auto& { return t.config.ingest.ack; },
      std::vector<std::pair<std::string, IngestAck>>{{"none", IngestAck::none},
                                                     {"durable", IngestAck::durable}}));
  r.add(settings::duration_setting<T>(
      info("ingest.ack_timeout_ms", Type::duration,
           "durable: longest wait for the fsync (or, over HTTP, for room) before 503 or a negative ack"),
      [](auto& t) -> auto& { return t.config.ingest.ack_timeout; }, Range{1, 600'000}));
  Info tokens =
      info("ingest.tokens", Type::list,
           "bearer tokens the HTTP ingest accepts besides api.key, comma-separated (docs/authentication.md)");
  tokens.secret = true;
  r.add({std::move(tokens), [](T& t, std::string_view v) { t.config.ingest.tokens = parse_token_list(v); },
         [](const T& t) { return settings::join_list(t.config.ingest.tokens); }});
  Info token_file =
      info("ingest.token_file", Type::path, "a file with one ingest token per line (keep it 0600)");
  r.add({std::move(token_file),
         [](T& t, std::string_view v) { t.config.ingest.token_file = v == "off" ? "" : std::string(v); },
         [](const T& t) { return t.config.ingest.token_file; }});
  r.add({info("ingest.allowed_origins", Type::list,
              "browser origins allowed to call the HTTP ingest, comma-separated; * for any"),
         [](T& t, std::string_view v) { t.config.ingest.allowed_origins = parse_origin_list(v); },
         [](const T& t) { return settings::join_list(t.config.ingest.allowed_origins); }});
  // ---- proxy
  r.add(settings::bool_setting<T>(
      info("proxy.enabled", Type::boolean, "forward every other HTTP ingest path to api.url (docs/sdk.md)"),
      [](auto& t) -> auto& { return t.config.ingest.proxy; }));
  r.add(settings::duration_setting<T>(
      info("proxy.timeout_ms", Type::duration, "longest wait for the upstream's response head (504 beyond), then between two "
           "pieces of its streamed body (connection cut beyond)"),
      [](auto& t) -> auto& { return t.config.ingest.proxy_timeout; }, Range{1, 3'600'000}));
  r.add(settings::size_setting<T>(
      info("proxy.max_response_bytes", Type::size, "largest upstream response body relayed (502 when announced, connection cut "
           "mid-stream); not a memory bound, the body streams"),
      [](auto& t) -> auto& { return t.config.ingest.proxy_max_response_bytes; },
      Range{1024, std::uint64_t{1} << 30}));
  // ---- admin
  r.add(listen(
      info("admin.listen", Type::address,
           "GET /metrics (Prometheus), /healthz and /readyz; keep it on "
           "loopback"),
      [](auto& t) -> auto& { return t.config.admin; }));
  // ---- destination
  r.add(destination(
      "project_id",
      "project id that rows without routing keys go to; set at most one destination.*, with none such "
      "rows are refused (no_destination)",
      &DestinationSettings::project_id));
  r.add(destination("project_name",
                    "project name (created when missing) that rows without routing keys go to",
                    &DestinationSettings::project_name));
  r.add(destination("experiment_id", "experiment id that rows without routing keys go to",
                    &DestinationSettings::experiment_id));
  r.add(destination("dataset_id", "dataset id that rows without routing keys go to",
                    &DestinationSettings::dataset_id));
  // ---- log
  r.add(settings::choice_setting<T>(
      info("log.level", Type::choice, "least severe message logged"),
      [](auto& t) -> auto& { return t.config.log_level; },
      std::vector<std::pair<std::string, LogLevel>>{{"debug", LogLevel::debug},
                                                    {"info", LogLevel::info},
                                                    {"warn", LogLevel::warn},
                                                    {"error", LogLevel::error},
                                                    {"warning", LogLevel::warn}},
      1));
  return r;
}

}  // namespace

const settings::Registry<SettingsTarget>& daemon_settings() {
  static const settings::Registry<SettingsTarget> registry = build();
  return registry;
}

}  // namespace spanline::agent
