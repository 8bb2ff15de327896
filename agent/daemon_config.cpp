#include "daemon_config.hpp"

#include "core/destination_id.hpp"
#include "transport/url.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <map>
#include <sstream>

namespace spanline::agent {

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

std::string_view to_string(IngestAck ack) { return ack == IngestAck::durable ? "durable" : "none"; }

ConfigError::ConfigError(std::string source, std::string key, std::string reason)
    : std::runtime_error((source.empty() ? std::string() : source + ": ") +
                         (key.empty() ? std::string() : key + ": ") + reason),
      source_(std::move(source)),
      key_(std::move(key)),
      reason_(std::move(reason)) {}

namespace {

constexpr std::string_view kRedacted = "<redacted>";

// ---- the daemon's own settings ------------------------------------------------

struct DestinationSettings {
  std::string project_id, project_name, experiment_id, dataset_id;
};

// While applying settings, destination.* are collected and checked together at the end.
struct Building {
  DaemonConfig config;
  DestinationSettings destination;
};

[[noreturn]] void bad(std::string_view expected, std::string_view value) {
  throw std::invalid_argument("must be " + std::string(expected) + ", got '" + std::string(value) + "'");
}

std::uint64_t parse_number(std::string_view text, int base = 10) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc() || ptr != end) bad("a non-negative whole number", text);
  return value;
}

std::size_t parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string_view suffix = text.substr(digits);
  std::uint64_t scale = 1;
  if (suffix == "K" || suffix == "KiB")
    scale = 1 << 10;
  else if (suffix == "M" || suffix == "MiB")
    scale = 1 << 20;
  else if (suffix == "G" || suffix == "GiB")
    scale = std::uint64_t{1} << 30;
  else if (!suffix.empty() && suffix != "B")
    bad("a size in bytes (optionally with KiB, MiB or GiB)", text);
  if (digits == 0) bad("a size in bytes (optionally with KiB, MiB or GiB)", text);
  return static_cast<std::size_t>(parse_number(text.substr(0, digits)) * scale);
}

std::size_t parse_bounded(std::string_view text, std::uint64_t low, std::uint64_t high) {
  const std::uint64_t value = parse_number(text);
  if (value < low || value > high) {
    bad("a number in [" + std::to_string(low) + ", " + std::to_string(high) + "]", text);
  }
  return static_cast<std::size_t>(value);
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
  const std::uint64_t port = parse_number(text.substr(colon + 1));
  if (port > 65535) bad("a port in [0, 65535]", text);
  return ListenAddress{host, static_cast<std::uint16_t>(port)};
}

std::string listen_text(const ListenAddress& address) {
  if (!address.enabled()) return "off";
  if (address.host.find(':') != std::string::npos)
    return "[" + address.host + "]:" + std::to_string(address.port);
  return address.host + ":" + std::to_string(address.port);
}

std::string millis_text(std::chrono::milliseconds value) { return std::to_string(value.count()); }

std::string mode_text(std::uint32_t mode) {
  std::ostringstream out;
  out << '0' << std::oct << mode;
  return out.str();
}

// Lists are comma-separated text (a TOML array of strings is joined the same way).
std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Bearer tokens use RFC 6750's token68 characters, so one can be written in a header as is.
std::vector<std::string> parse_token_list(std::string_view text) {
  auto tokens = split_list(text);
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
  auto origins = split_list(text);
  for (const auto& origin : origins) {
    const std::size_t scheme = origin.find("://");
    const bool ok =
        origin == "*" || (scheme != std::string::npos && scheme > 0 && origin.size() > scheme + 3 &&
                          origin.find('/', scheme + 3) == std::string::npos);
    if (!ok) bad("a comma-separated list of origins such as https://app.example.com", origin);
  }
  return origins;
}

struct DaemonSetting {
  std::string_view name;
  std::function<void(Building&, std::string_view)> set;
  std::function<std::string(const Building&)> get;
};

const std::vector<DaemonSetting>& daemon_settings() {
  static const std::vector<DaemonSetting> table = {
      {"ingest.uds_path",
       [](Building& b, std::string_view v) { b.config.ingest.uds_path = v == "off" ? "" : v; },
       [](const Building& b) {
         return b.config.ingest.uds_path.empty() ? std::string("off") : b.config.ingest.uds_path;
       }},
      {"ingest.uds_mode",
       [](Building& b, std::string_view v) {
         std::uint64_t mode = 01000;
         try {
           mode = parse_number(v.substr(v.rfind("0o", 0) == 0 ? 2 : 0), 8);
         } catch (const std::invalid_argument&) {
         }
         if (mode > 0777) bad("an octal file mode such as 0660", v);
         b.config.ingest.uds_mode = static_cast<std::uint32_t>(mode);
       },
       [](const Building& b) { return mode_text(b.config.ingest.uds_mode); }},
      {"ingest.datagram_path",
       [](Building& b, std::string_view v) { b.config.ingest.datagram_path = v == "off" ? "" : v; },
       [](const Building& b) {
         return b.config.ingest.datagram_path.empty() ? std::string("off") : b.config.ingest.datagram_path;
       }},
      {"ingest.tcp_listen", [](Building& b, std::string_view v) { b.config.ingest.tcp = parse_listen(v); },
       [](const Building& b) { return listen_text(b.config.ingest.tcp); }},
      {"ingest.http_listen", [](Building& b, std::string_view v) { b.config.ingest.http = parse_listen(v); },
       [](const Building& b) { return listen_text(b.config.ingest.http); }},
      {"ingest.max_line_bytes",
       [](Building& b, std::string_view v) {
         b.config.ingest.max_line_bytes = parse_size(v);
         if (b.config.ingest.max_line_bytes < 64 ||
             b.config.ingest.max_line_bytes > (std::size_t{64} << 20)) {
           bad("a size between 64 bytes and 64 MiB", v);
         }
       },
       [](const Building& b) { return std::to_string(b.config.ingest.max_line_bytes); }},
      {"ingest.max_body_bytes",
       [](Building& b, std::string_view v) {
         b.config.ingest.max_body_bytes = parse_size(v);
         if (b.config.ingest.max_body_bytes < 1024 ||
             b.config.ingest.max_body_bytes > (std::size_t{1} << 30)) {
           bad("a size between 1 KiB and 1 GiB", v);
         }
       },
       [](const Building& b) { return std::to_string(b.config.ingest.max_body_bytes); }},
      {"ingest.max_connections",
       [](Building& b, std::string_view v) {
         b.config.ingest.max_connections = parse_bounded(v, 1, 1'000'000);
       },
       [](const Building& b) { return std::to_string(b.config.ingest.max_connections); }},
      {"ingest.idle_timeout_ms",
       [](Building& b, std::string_view v) {
         b.config.ingest.idle_timeout =
             std::chrono::milliseconds(parse_bounded(v, 1, std::uint64_t{1} << 40));
       },
       [](const Building& b) { return millis_text(b.config.ingest.idle_timeout); }},
      {"ingest.max_depth",
       [](Building& b, std::string_view v) { b.config.ingest.max_depth = parse_bounded(v, 1, 512); },
       [](const Building& b) { return std::to_string(b.config.ingest.max_depth); }},
      {"ingest.threads",
       [](Building& b, std::string_view v) { b.config.ingest.threads = parse_bounded(v, 1, 64); },
       [](const Building& b) { return std::to_string(b.config.ingest.threads); }},
      {"ingest.ack",
       [](Building& b, std::string_view v) {
         if (v == "none")
           b.config.ingest.ack = IngestAck::none;
         else if (v == "durable")
           b.config.ingest.ack = IngestAck::durable;
         else
           bad("one of none, durable", v);
       },
       [](const Building& b) { return std::string(to_string(b.config.ingest.ack)); }},
      {"ingest.ack_timeout_ms",
       [](Building& b, std::string_view v) {
         b.config.ingest.ack_timeout = std::chrono::milliseconds(parse_bounded(v, 1, 600'000));
       },
       [](const Building& b) { return millis_text(b.config.ingest.ack_timeout); }},
      {"ingest.tokens", [](Building& b, std::string_view v) { b.config.ingest.tokens = parse_token_list(v); },
       [](const Building& b) { return join_list(b.config.ingest.tokens); }},
      {"ingest.token_file",
       [](Building& b, std::string_view v) { b.config.ingest.token_file = v == "off" ? "" : v; },
       [](const Building& b) { return b.config.ingest.token_file; }},
      {"ingest.allowed_origins",
       [](Building& b, std::string_view v) { b.config.ingest.allowed_origins = parse_origin_list(v); },
       [](const Building& b) { return join_list(b.config.ingest.allowed_origins); }},
      {"proxy.enabled",
       [](Building& b, std::string_view v) {
         if (v != "true" && v != "false") bad("true or false", v);
         b.config.ingest.proxy = v == "true";
       },
       [](const Building& b) { return std::string(b.config.ingest.proxy ? "true" : "false"); }},
      {"proxy.timeout_ms",
       [](Building& b, std::string_view v) {
         b.config.ingest.proxy_timeout = std::chrono::milliseconds(parse_bounded(v, 1, 3'600'000));
       },
       [](const Building& b) { return millis_text(b.config.ingest.proxy_timeout); }},
      {"proxy.max_response_bytes",
       [](Building& b, std::string_view v) {
         b.config.ingest.proxy_max_response_bytes = parse_size(v);
         if (b.config.ingest.proxy_max_response_bytes < 1024 ||
             b.config.ingest.proxy_max_response_bytes > (std::size_t{1} << 30)) {
           bad("a size between 1 KiB and 1 GiB", v);
         }
       },
       [](const Building& b) { return std::to_string(b.config.ingest.proxy_max_response_bytes); }},
      {"admin.listen", [](Building& b, std::string_view v) { b.config.admin = parse_listen(v); },
       [](const Building& b) { return listen_text(b.config.admin); }},
      {"destination.project_id", [](Building& b, std::string_view v) { b.destination.project_id = v; },
       [](const Building& b) { return b.destination.project_id; }},
      {"destination.project_name", [](Building& b, std::string_view v) { b.destination.project_name = v; },
       [](const Building& b) { return b.destination.project_name; }},
      {"destination.experiment_id", [](Building& b, std::string_view v) { b.destination.experiment_id = v; },
       [](const Building& b) { return b.destination.experiment_id; }},
      {"destination.dataset_id", [](Building& b, std::string_view v) { b.destination.dataset_id = v; },
       [](const Building& b) { return b.destination.dataset_id; }},
      {"log.level",
       [](Building& b, std::string_view v) {
         if (v == "debug")
           b.config.log_level = LogLevel::debug;
         else if (v == "info")
           b.config.log_level = LogLevel::info;
         else if (v == "warn" || v == "warning")
           b.config.log_level = LogLevel::warn;
         else if (v == "error")
           b.config.log_level = LogLevel::error;
         else
           bad("one of debug, info, warn, error", v);
       },
       [](const Building& b) { return std::string(to_string(b.config.log_level)); }},
  };
  return table;
}

bool is_library_setting(std::string_view name) {
  const auto& names = option_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

const DaemonSetting* find_daemon_setting(std::string_view name) {
  for (const auto& setting : daemon_settings()) {
    if (setting.name == name) return &setting;
  }
  return nullptr;
}

bool is_secret(std::string_view name) { return name == "api.key" || name == "ingest.tokens"; }

struct Source {
  std::string where;  // for error messages
  std::string name;
  std::string value;
};

void apply(Building& building, const Source& source) {
  try {
    if (is_library_setting(source.name)) {
      set_option(building.config.library, source.name, source.value);
    } else if (const DaemonSetting* setting = find_daemon_setting(source.name)) {
      setting->set(building, source.value);
    } else {
      throw ConfigError(source.where, source.name, "unknown setting (see spanlined --help)");
    }
  } catch (const std::invalid_argument& e) {
    std::string reason = e.what();
    // The library names the setting itself; do not say it twice.
    const std::string prefix = source.name + " ";
    if (reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
    // The library's message may quote the value; ours for ingest.tokens never does.
    if (source.name == "api.key") reason = "invalid value";  // never echo the key
    throw ConfigError(source.where, source.name, reason);
  }
}

std::string env_name(std::string_view dotted) {
  std::string name = "SPANLINE_";
  for (char c : dotted)
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::vector<std::string_view> all_setting_names() {
  std::vector<std::string_view> names(option_names().begin(), option_names().end());
  for (const auto& setting : daemon_settings()) names.push_back(setting.name);
  return names;
}

// ---- TOML ------------------------------------------------------------------------

void flatten(const toml::table& table, const std::string& prefix, const std::string& file,
             std::vector<Source>& out) {
  for (auto&& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    const auto line = node.source().begin.line;
    const std::string where = file + ":" + std::to_string(line);
    if (const auto* sub = node.as_table()) {
      flatten(*sub, name, file, out);
      continue;
    }
    std::string text;
    if (const auto* s = node.as_string()) {
      text = s->get();
    } else if (const auto* i = node.as_integer()) {
      if (i->get() < 0) throw ConfigError(where, name, "must not be negative");
      // A TOML integer for a file mode (0o660) is a number; the setting reads octal text.
      text = name == "ingest.uds_mode" ? mode_text(static_cast<std::uint32_t>(i->get()))
                                       : std::to_string(i->get());
    } else if (const auto* b = node.as_boolean()) {
      text = b->get() ? "true" : "false";
    } else if (const auto* array = node.as_array()) {
      // A list setting (ingest.tokens, ingest.allowed_origins) written as a TOML array.
      for (auto&& item : *array) {
        const auto* s = item.as_string();
        if (s == nullptr) throw ConfigError(where, name, "must be an array of strings");
        text += (text.empty() ? "" : ",") + s->get();
      }
    } else if (node.is_floating_point()) {
      throw ConfigError(where, name, "must be a whole number or a string, not a float");
    } else {
      throw ConfigError(where, name, "must be a string, a whole number or a boolean");
    }
    out.push_back(Source{where, name, std::move(text)});
  }
}

// A TOML parse error's description without the input it quotes ("..., saw 'R'"): the
// line may hold api.key, and line:column already says where to look.
std::string without_quoted_input(std::string_view description) {
  const std::size_t saw = description.find(", saw '");
  return std::string(description.substr(0, saw));
}

std::vector<Source> read_file(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    std::string where = path;
    if (begin.line > 0) where += ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
    throw ConfigError(where, "", without_quoted_input(e.description()));
  }
  std::vector<Source> out;
  flatten(table, "", path, out);
  return out;
}

std::optional<Destination> make_destination(const DestinationSettings& d) {
  int count = 0;
  std::optional<Destination> out;
  if (!d.project_id.empty()) ++count, out = Destination::project(d.project_id);
  if (!d.project_name.empty()) ++count, out = Destination::project_named(d.project_name);
  if (!d.experiment_id.empty()) ++count, out = Destination::experiment(d.experiment_id);
  if (!d.dataset_id.empty()) ++count, out = Destination::dataset(d.dataset_id);
  if (count > 1) {
    throw ConfigError("", "destination",
                      "set at most one of destination.project_id, destination.project_name, "
                      "destination.experiment_id, destination.dataset_id");
  }
  // The same rule as for ids that arrive with rows (destination_id.hpp), so that
  // --check-config refuses what would stop the daemon at startup.
  for (const auto& [name, id] : {std::pair{"destination.project_id", &d.project_id},
                                 std::pair{"destination.experiment_id", &d.experiment_id},
                                 std::pair{"destination.dataset_id", &d.dataset_id}}) {
    if (id->empty()) continue;
    if (const auto problem = detail::destination_id_problem(*id)) {
      throw ConfigError("", name, "'" + detail::printable_id(*id) + "' " + std::string(*problem));
    }
  }
  return out;
}

void check(const DaemonConfig& config) {
  try {
    validate(config.library);
  } catch (const std::invalid_argument& e) {
    const std::string reason = e.what();
    const std::size_t space = reason.find(' ');
    throw ConfigError("", space == std::string::npos ? "" : reason.substr(0, space),
                      space == std::string::npos ? reason : reason.substr(space + 1));
  }
  // What the sender checks when it starts, so that --check-config catches it too.
  try {
    (void)detail::parse_base_url(config.library.api_url);
  } catch (const std::invalid_argument& e) {
    std::string reason = e.what();  // "api_url: <why>, got "<url, redacted>""
    if (reason.rfind("api_url: ", 0) == 0) reason = reason.substr(9);
    throw ConfigError("", "api.url", reason);
  }
  const auto& in = config.ingest;
  if (!in.uds_path.empty() && in.uds_path == in.datagram_path) {
    throw ConfigError("", "ingest.datagram_path", "must differ from ingest.uds_path");
  }
  for (const auto& [name, path] :
       {std::pair{"ingest.uds_path", in.uds_path}, std::pair{"ingest.datagram_path", in.datagram_path}}) {
    // sockaddr_un::sun_path is 108 bytes including the terminator.
    if (path.size() > 107) throw ConfigError("", name, "a Unix socket path must be at most 107 bytes");
  }
  if (in.uds_path.empty() && in.datagram_path.empty() && !in.tcp.enabled() && !in.http.enabled()) {
    throw ConfigError("", "ingest", "every listener is off; enable at least one");
  }
  if (in.max_body_bytes < in.max_line_bytes) {
    throw ConfigError("", "ingest.max_body_bytes", "must be >= ingest.max_line_bytes");
  }
  // A durable acknowledgement is a promise that the row is on disk; without a spool there is
  // nowhere to keep it, so refuse to start rather than acknowledge rows held only in memory.
  if (in.ack == IngestAck::durable && config.library.spool_dir.empty()) {
    throw ConfigError("", "ingest.ack",
                      "\"durable\" needs spool.dir (the directory acknowledged rows are written to); "
                      "set spool.dir or use ingest.ack = \"none\"");
  }
}

}  // namespace

const std::vector<std::string_view>& daemon_setting_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& setting : daemon_settings()) out.push_back(setting.name);
    return out;
  }();
  return names;
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine out;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto take_value = [&](std::string_view flag, std::string_view inline_value,
                          bool has_inline) -> std::string {
      if (has_inline) return std::string(inline_value);
      if (i + 1 >= argc) throw ConfigError("flag " + std::string(flag), "", "needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (arg == "--version") {
      out.version = true;
      continue;
    }
    if (arg == "--check-config") {
      out.check_config = true;
      continue;
    }
    if (arg == "--print-config") {
      out.print_config = true;
      continue;
    }
    if (arg == "-c") {
      out.config_file = take_value(arg, {}, false);
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      throw ConfigError("argument '" + std::string(arg) + "'", "", "unexpected argument");
    std::string_view body = arg.substr(2);
    const std::size_t eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    const bool has_inline = eq != std::string_view::npos;
    const std::string_view inline_value = has_inline ? body.substr(eq + 1) : std::string_view{};
    if (name == "config") {
      out.config_file = take_value(arg, inline_value, has_inline);
      continue;
    }
    if (!is_library_setting(name) && find_daemon_setting(name) == nullptr) {
      throw ConfigError("flag --" + std::string(name), std::string(name),
                        "unknown flag (see spanlined --help)");
    }
    out.settings.emplace_back(std::string(name), take_value(arg, inline_value, has_inline));
  }
  return out;
}

EnvLookup process_environment() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

DaemonConfig default_config(const EnvLookup& env) {
  DaemonConfig config;
  std::string dir = "/run/spanline";
  if (const char* runtime = env("RUNTIME_DIRECTORY"); runtime != nullptr && *runtime != '\0') {
    dir = runtime;
    // systemd passes several directories separated by ':' when several are configured.
    dir = dir.substr(0, dir.find(':'));
  }
  config.ingest.uds_path = dir + "/spanlined.sock";
  config.ingest.datagram_path = dir + "/spanlined.dgram";
  return config;
}

DaemonConfig load_config(const CommandLine& command_line, const EnvLookup& env) {
  Building building{default_config(env), {}};
  std::vector<Source> sources;

  std::optional<std::string> file = command_line.config_file;
  if (!file) {
    if (const char* from_env = env("SPANLINE_CONFIG"); from_env != nullptr && *from_env != '\0')
      file = from_env;
  }
  if (file) {
    sources = read_file(*file);
    building.config.config_file = *file;
  }
  if (const char* key = env("BRAINTRUST_API_KEY"); key != nullptr && *key != '\0') {
    sources.push_back(Source{"environment BRAINTRUST_API_KEY", "api.key", key});
  }
  if (const char* url = env("BRAINTRUST_API_URL"); url != nullptr && *url != '\0') {
    sources.push_back(Source{"environment BRAINTRUST_API_URL", "api.url", url});
  }
  for (std::string_view name : all_setting_names()) {
    const std::string variable = env_name(name);
    if (const char* value = env(variable.c_str()); value != nullptr) {
      sources.push_back(Source{"environment " + variable, std::string(name), value});
    }
  }
  for (const auto& [name, value] : command_line.settings) {
    sources.push_back(Source{"flag --" + name, name, value});
  }
  // Later sources win: file, then environment, then flags.
  for (const Source& source : sources) apply(building, source);

  building.config.default_destination = make_destination(building.destination);
  check(building.config);
  return std::move(building.config);
}

std::string print_config(const DaemonConfig& config) {
  // Regroup "section.name" pairs into TOML tables.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  auto add = [&](const std::string& dotted, std::string value) {
    const std::size_t dot = dotted.find('.');
    sections[dotted.substr(0, dot)].emplace_back(dotted.substr(dot + 1), std::move(value));
  };
  for (auto& [name, value] : describe(config.library)) {
    if (is_secret(name) && !value.empty()) value = kRedacted;
    if (name == "api.url") value = detail::redact_url(value);  // refused by check(); never shown either way
    add(name, value);
  }
  Building building{config, {}};
  if (const auto& d = config.default_destination) {
    if (d->kind == Destination::Kind::experiment)
      building.destination.experiment_id = d->id;
    else if (d->kind == Destination::Kind::dataset)
      building.destination.dataset_id = d->id;
    else if (!d->id.empty())
      building.destination.project_id = d->id;
    else
      building.destination.project_name = d->project_name;
  }
  for (const auto& setting : daemon_settings()) {
    std::string value = setting.get(building);
    if (setting.name.rfind("destination.", 0) == 0 && value.empty()) continue;
    if (is_secret(setting.name) && !value.empty()) value = std::string(kRedacted);
    add(std::string(setting.name), std::move(value));
  }
  std::string out = "# spanlined effective configuration";
  if (!config.config_file.empty()) out += " (file: " + config.config_file + ")";
  out += "\n";
  for (const auto& [section, entries] : sections) {
    out += "\n[" + section + "]\n";
    for (const auto& [key, value] : entries) {
      const bool bare = !value.empty() &&
                        (value == "true" || value == "false" ||
                         std::all_of(value.begin(), value.end(),
                                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) &&
                        !(key == "uds_mode");
      out += key + " = ";
      if (bare) {
        out += value;
      } else {
        out += '"';
        for (char c : value) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
        out += '"';
      }
      out += "\n";
    }
  }
  return out;
}

std::string help_text() {
  std::string out =
      "Usage: spanlined [--config FILE] [--check-config] [--print-config] [--version] [--help]\n"
      "                 [--SETTING=VALUE ...]\n"
      "\n"
      "spanlined receives trace spans and log rows over a Unix socket (NDJSON), a datagram socket,\n"
      "loopback TCP (NDJSON) or an HTTP endpoint that speaks the Braintrust insert API, and ships\n"
      "them to the Braintrust API with batching, compression and retries.\n"
      "\n"
      "Options:\n"
      "  -c, --config FILE   TOML configuration file (also SPANLINE_CONFIG)\n"
      "  --check-config      validate the configuration and exit (0 when valid)\n"
      "  --print-config      print the effective configuration (secrets redacted) and exit\n"
      "  --version           print the version and exit\n"
      "  -h, --help          print this help and exit\n"
      "\n"
      "Every setting below can be given as --name=value, as the environment variable\n"
      "SPANLINE_NAME (upper case, '.' as '_'), or in the TOML file as [section] key = value.\n"
      "Precedence: flag > environment > file > default. BRAINTRUST_API_KEY and BRAINTRUST_API_URL\n"
      "set api.key and api.url.\n"
      "\n"
      "Settings:\n";
  for (std::string_view name : all_setting_names()) {
    out += "  --";
    out += name;
    out += "\n";
  }
  return out;
}

}  // namespace spanline::agent
