#pragma once
// spanlined's configuration: the library's Options plus the daemon's own settings, read
// from a TOML file, the environment and command-line flags, with precedence
// flag > environment > file > default.
//
// Every setting has one dotted name ("ingest.max_line_bytes", "queue.max_bytes"), used as
//   - TOML:        [ingest] max_line_bytes = 1048576
//   - environment: SPANLINE_INGEST_MAX_LINE_BYTES=1048576 (BRAINTRUST_API_KEY / BRAINTRUST_API_URL
//                  for api.key / api.url, like the official SDKs)
//   - flag:        --ingest.max_line_bytes=1048576  or  --ingest.max_line_bytes 1048576

#include <spanline/destination.hpp>
#include <spanline/options.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanline::agent {

enum class LogLevel { debug, info, warn, error };
std::string_view to_string(LogLevel level);

struct ListenAddress {
  std::string host;        // an IP literal; "" means the listener is off
  std::uint16_t port = 0;  // 0: the kernel picks one (printed in the ready line)
  bool enabled() const { return !host.empty(); }
};

// When an ingest answer means "you may forget this row" (ingest.ack).
enum class IngestAck {
  none,     // best effort: acknowledged once queued in memory; lost if the process dies
  durable,  // acknowledged once an fsync put it in the spool (needs spool.dir)
};
std::string_view to_string(IngestAck ack);

struct IngestConfig {
  std::string uds_path;  // NDJSON stream socket; "" = off
  std::uint32_t uds_mode = 0660;
  std::string datagram_path;  // datagram socket; "" = off
  ListenAddress tcp;          // off by default
  ListenAddress http{"127.0.0.1", 8787};
  std::size_t max_line_bytes = std::size_t{1} << 20;
  std::size_t max_body_bytes = std::size_t{16} << 20;
  std::size_t max_connections = 1024;  // per listener
  std::chrono::milliseconds idle_timeout{300'000};
  std::size_t max_depth = 64;
  std::size_t threads = 1;  // I/O threads for every listener
  IngestAck ack = IngestAck::none;
  // durable: longest an HTTP request or a stream chunk waits for its fsync before it is
  // answered as not durable (503 / nack).
  std::chrono::milliseconds ack_timeout{5'000};
  // HTTP ingest authentication (docs/authentication.md): bearer tokens accepted besides
  // api.key (secret), a file of more (one per line), and browser origins allowed in.
  std::vector<std::string> tokens;
  std::string token_file;
  std::vector<std::string> allowed_origins;
  // The HTTP ingest's reverse proxy to api.url for the paths it does not serve (api_proxy.hpp).
  bool proxy = true;
  std::chrono::milliseconds proxy_timeout{60'000};
  std::size_t proxy_max_response_bytes = std::size_t{64} << 20;
};

struct DaemonConfig {
  Options library;
  IngestConfig ingest;
  ListenAddress admin{"127.0.0.1", 9477};
  std::optional<Destination> default_destination;  // from destination.*; rows without routing keys go here
  LogLevel log_level = LogLevel::info;
  std::string config_file;  // the file read, if any
};

// A configuration problem: where it came from ("/etc/spanlined.toml:12", "environment
// SPANLINE_QUEUE_MAX_BYTES", "flag --queue.max_bytes"), the setting, and what is wrong.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string source, std::string key, std::string reason);
  const std::string& source() const { return source_; }
  const std::string& key() const { return key_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string source_;
  std::string key_;
  std::string reason_;
};

struct CommandLine {
  std::optional<std::string> config_file;
  bool check_config = false;
  bool print_config = false;
  bool version = false;
  bool help = false;
  std::optional<std::string> settings_reference;              // --print-settings-reference=markdown|man
  std::vector<std::pair<std::string, std::string>> settings;  // --name=value, in order
};

// Parsed with CLI11, one option per registered setting (daemon_settings.hpp). Throws
// ConfigError for an unknown flag, a stray argument or a flag without its value.
CommandLine parse_command_line(int argc, const char* const* argv);

// Looks up an environment variable; nullptr when unset. Tests pass a map.
using EnvLookup = std::function<const char*(const char*)>;
EnvLookup process_environment();

// Defaults that depend on the environment: sockets go under $RUNTIME_DIRECTORY (set by
// systemd's RuntimeDirectory=) or /run/spanline.
DaemonConfig default_config(const EnvLookup& env);

// Builds the effective configuration. Throws ConfigError.
DaemonConfig load_config(const CommandLine& command_line, const EnvLookup& env);

// The daemon's own setting names (the library's come from spanline::option_names()).
const std::vector<std::string_view>& daemon_setting_names();

// The effective configuration as TOML, secrets redacted; it can be read back with --config.
std::string print_config(const DaemonConfig& config);

// What is valid but probably not meant (no API key): --check-config prints these and still
// exits 0; the daemon logs them at start.
std::vector<std::string> config_warnings(const DaemonConfig& config);

// --help: usage, then one line per setting with its default and unit (settings_reference.cpp).
std::string help_text();

// The settings reference generated from the registry: "markdown" is docs/settings.md, "man"
// is packaging/spanlined.8. Throws std::invalid_argument for another format.
std::string settings_reference(std::string_view format);

}  // namespace spanline::agent
