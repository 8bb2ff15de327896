#include "daemon_config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

namespace spanline::agent {
namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = std::filesystem::temp_directory_path() /
            ("spanlined-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".toml");
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

CommandLine cli(std::vector<std::string> args) {
  std::vector<const char*> argv{"spanlined"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

DaemonConfig load(std::vector<std::string> args, const FakeEnv& env = {}) {
  return load_config(cli(std::move(args)), env.lookup());
}

ConfigError load_error(std::vector<std::string> args, const FakeEnv& env = {}) {
  try {
    (void)load(std::move(args), env);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError";
  return ConfigError("", "", "");
}

TEST(ConfigDefaults, SafeDefaults) {
  const DaemonConfig c = load({});
  EXPECT_EQ(c.ingest.uds_path, "/run/spanline/spanlined.sock");
  EXPECT_EQ(c.ingest.uds_mode, 0660u);
  EXPECT_FALSE(c.ingest.tcp.enabled());
  EXPECT_EQ(c.ingest.http.host, "127.0.0.1");
  EXPECT_EQ(c.admin.host, "127.0.0.1");
  EXPECT_FALSE(c.default_destination);
  EXPECT_EQ(c.library.api_url, "https://api.braintrust.dev");
}

TEST(ConfigDefaults, RuntimeDirectoryFromSystemd) {
  FakeEnv env;
  env.vars["RUNTIME_DIRECTORY"] = "/run/custom:/run/other";
  const DaemonConfig c = load({}, env);
  EXPECT_EQ(c.ingest.uds_path, "/run/custom/spanlined.sock");
  EXPECT_EQ(c.ingest.datagram_path, "/run/custom/spanlined.dgram");
}

TEST(ConfigPrecedence, FlagOverEnvOverFileOverDefault) {
  TempFile file(R"(
[queue]
max_bytes = "8MiB"
max_rows = 500
[batch]
linger_ms = 7
[ingest]
max_line_bytes = 2048
uds_mode = 0o600
[destination]
project_id = "from-file"
)");
  FakeEnv env;
  env.vars["SPANLINE_QUEUE_MAX_ROWS"] = "600";
  env.vars["SPANLINE_BATCH_LINGER_MS"] = "8";
  env.vars["SPANLINE_INGEST_MAX_LINE_BYTES"] = "4096";
  env.vars["BRAINTRUST_API_URL"] = "http://127.0.0.1:9";
  const DaemonConfig c =
      load({"--config", file.path(), "--batch.linger_ms=9", "--ingest.max_line_bytes", "8192"}, env);
  EXPECT_EQ(c.library.max_queue_bytes, std::size_t{8} << 20);  // file only
  EXPECT_EQ(c.library.max_queue_rows, 600u);                   // env over file
  EXPECT_EQ(c.library.linger.count(), 9);                      // flag over env over file
  EXPECT_EQ(c.ingest.max_line_bytes, 8192u);                   // flag over env over file (daemon setting)
  EXPECT_EQ(c.ingest.uds_mode, 0600u);
  EXPECT_EQ(c.library.api_url, "http://127.0.0.1:9");
  ASSERT_TRUE(c.default_destination);
  EXPECT_EQ(*c.default_destination, Destination::project("from-file"));
  EXPECT_EQ(c.library.batch_max_rows, Options{}.batch_max_rows);  // default untouched
}

TEST(ConfigPrecedence, ConfigFileFromEnvironment) {
  TempFile file("[log]\nlevel = \"debug\"\n");
  FakeEnv env;
  env.vars["SPANLINE_CONFIG"] = file.path();
  EXPECT_EQ(load({}, env).log_level, LogLevel::debug);
}

TEST(ConfigPrecedence, ListenersCanBeTurnedOff) {
  const DaemonConfig c =
      load({"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.tcp_listen=127.0.0.1:0"});
  EXPECT_TRUE(c.ingest.uds_path.empty());
  EXPECT_TRUE(c.ingest.tcp.enabled());
  EXPECT_EQ(c.ingest.tcp.port, 0);
}

struct ErrorCase {
  const char* name;
  std::string toml;  // written to a file when non-empty
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string source_contains;
  std::string key;
  std::string reason_contains;
};

TEST(ConfigErrors, EveryPathNamesSourceKeyAndReason) {
  const std::vector<ErrorCase> cases = {
      {"unknown file key", "[queue]\nmax_byts = 5\n", {}, {}, ":2", "queue.max_byts", "unknown setting"},
      {"bad file value", "\n[queue]\noverflow = \"sometimes\"\n", {}, {}, ":3", "queue.overflow", "block"},
      {"toml syntax", "[queue\nmax_bytes = 1\n", {}, {}, ":1:", "", ""},
      {"float", "[batch]\nlinger_ms = 1.5\n", {}, {}, ":2", "batch.linger_ms", "float"},
      {"array", "[ingest]\nhttp_listen = [1]\n", {}, {}, ":2", "ingest.http_listen", "string"},
      {"bad env",
       "",
       {},
       {{"SPANLINE_QUEUE_MAX_ROWS", "lots"}},
       "SPANLINE_QUEUE_MAX_ROWS",
       "queue.max_rows",
       "number"},
      {"bad daemon env",
       "",
       {},
       {{"SPANLINE_INGEST_MAX_CONNECTIONS", "0"}},
       "SPANLINE_INGEST_MAX_CONNECTIONS",
       "ingest.max_connections",
       "[1, "},
      {"bad flag value",
       "",
       {"--ingest.http_listen=nowhere"},
       {},
       "--ingest.http_listen",
       "ingest.http_listen",
       "host:port"},
      {"bad port", "", {"--admin.listen=127.0.0.1:70000"}, {}, "--admin.listen", "admin.listen", "port"},
      {"bad mode", "", {"--ingest.uds_mode=999"}, {}, "--ingest.uds_mode", "ingest.uds_mode", "octal"},
      {"bad size",
       "",
       {"--ingest.max_line_bytes=1XB"},
       {},
       "--ingest.max_line_bytes",
       "ingest.max_line_bytes",
       "size"},
      {"bad log level", "", {"--log.level=loud"}, {}, "--log.level", "log.level", "debug"},
      {"two destinations",
       "",
       {"--destination.project_id=a", "--destination.dataset_id=b"},
       {},
       "",
       "destination",
       "at most one"},
      {"all listeners off",
       "",
       {"--ingest.uds_path=off", "--ingest.datagram_path=off", "--ingest.http_listen=off"},
       {},
       "",
       "ingest",
       "every listener"},
      {"library validation", "", {"--queue.max_bytes=1024"}, {}, "", "queue.max_bytes", "64 KiB"},
      {"long socket path",
       "",
       {"--ingest.uds_path=/" + std::string(120, 'x')},
       {},
       "",
       "ingest.uds_path",
       "107"},
      {"body below line",
       "",
       {"--ingest.max_body_bytes=2048", "--ingest.max_line_bytes=4096"},
       {},
       "",
       "ingest.max_body_bytes",
       ">="},
      {"same socket paths",
       "",
       {"--ingest.uds_path=/tmp/a.sock", "--ingest.datagram_path=/tmp/a.sock"},
       {},
       "",
       "ingest.datagram_path",
       "differ"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<TempFile> file;
    std::vector<std::string> args = c.args;
    if (!c.toml.empty()) {
      file.emplace(c.toml);
      args.insert(args.begin(), "--config=" + file->path());
    }
    FakeEnv env;
    env.vars = c.env;
    const ConfigError e = load_error(args, env);
    if (file) {
      EXPECT_NE(e.source().find(file->path()), std::string::npos) << e.what();
    }
    EXPECT_NE(e.source().find(c.source_contains), std::string::npos) << e.what();
    EXPECT_EQ(e.key(), c.key) << e.what();
    EXPECT_NE(e.reason().find(c.reason_contains), std::string::npos) << e.what();
    EXPECT_FALSE(e.reason().empty()) << e.what();
  }
}

TEST(ConfigErrors, MissingFile) {
  const ConfigError e = load_error({"--config=/nonexistent/spanlined.toml"});
  EXPECT_NE(std::string(e.what()).find("/nonexistent/spanlined.toml"), std::string::npos);
}

TEST(ConfigErrors, CommandLine) {
  EXPECT_THROW(cli({"--no.such.flag=1"}), ConfigError);
  EXPECT_THROW(cli({"--queue.max_bytes"}), ConfigError);  // value missing
  EXPECT_THROW(cli({"--config"}), ConfigError);
  EXPECT_THROW(cli({"stray"}), ConfigError);
  const CommandLine c = cli({"--check-config", "--print-config", "--version", "-h", "-c", "x.toml"});
  EXPECT_TRUE(c.check_config && c.print_config && c.version && c.help);
  EXPECT_EQ(c.config_file, "x.toml");
}

TEST(ConfigErrors, NeverEchoTheKey) {
  FakeEnv env;
  env.vars["BRAINTRUST_API_KEY"] = "sk-secret\nvalue";
  try {
    (void)load({}, env);
    ADD_FAILURE() << "expected an error for a key with a line break";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("sk-secret"), std::string::npos) << e.what();
  }
}

TEST(ConfigPrint, RedactsSecretsAndRoundTrips) {
  FakeEnv env;
  env.vars["BRAINTRUST_API_KEY"] = "sk-very-secret";
  const DaemonConfig c = load({"--destination.project_name=my project", "--ingest.tcp_listen=127.0.0.1:7000",
                               "--queue.overflow=drop_newest", "--ingest.uds_mode=0640"},
                              env);
  const std::string printed = print_config(c);
  EXPECT_EQ(printed.find("sk-very-secret"), std::string::npos) << printed;
  EXPECT_NE(printed.find("<redacted>"), std::string::npos) << printed;
  EXPECT_NE(printed.find("[ingest]"), std::string::npos);

  TempFile file(printed);
  FakeEnv key_env;
  key_env.vars["BRAINTRUST_API_KEY"] = "sk-very-secret";  // the redacted key comes back from the env
  const DaemonConfig again = load({"--config=" + file.path()}, key_env);
  EXPECT_EQ(again.ingest.tcp.port, 7000);
  EXPECT_EQ(again.ingest.uds_mode, 0640u);
  EXPECT_EQ(again.library.overflow, OverflowPolicy::drop_newest);
  ASSERT_TRUE(again.default_destination);
  EXPECT_EQ(again.default_destination->project_name, "my project");
  auto strip_header = [](const std::string& s) { return s.substr(s.find('\n')); };
  EXPECT_EQ(strip_header(print_config(again)), strip_header(printed));
}

TEST(ConfigDestination, IdsFollowTheOneIdRule) {
  for (const std::string& id : std::vector<std::string>{".", "..", "a/b", "del\x7f", "caf\xc3\xa9", "sp ace",
                                                        std::string(129, 'x')}) {
    for (const std::string key :
         {"destination.project_id", "destination.experiment_id", "destination.dataset_id"}) {
      const ConfigError e = load_error({"--" + key + "=" + id});
      EXPECT_EQ(e.key(), key) << id << ": " << e.what();
      // Shown escaped: no raw control or non-ASCII byte reaches the terminal.
      for (const char c : std::string(e.what())) {
        EXPECT_TRUE(c >= 0x20 && c < 0x7f) << id << ": " << e.what();
      }
    }
  }
  EXPECT_NE(std::string(load_error({"--destination.project_id=.."}).what()).find("\"..\""),
            std::string::npos);
  EXPECT_EQ(load({"--destination.project_id=5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c"}).default_destination->id,
            "5a1e3c9e-4d2b-4f6a-9c1d-2b3e4f5a6b7c");
  EXPECT_EQ(load({"--destination.dataset_id=my_data.v2"}).default_destination->id, "my_data.v2");
}

TEST(ConfigErrors, UrlCredentialsAreRefusedWithoutEchoingThem) {
  for (const std::string url : {"https://user:s3cr3t-pw@api.example.com",
                                "http://s3cr3t-pw@127.0.0.1:8080/bt", "ftp://user:s3cr3t-pw@host"}) {
    FakeEnv env;
    env.vars["BRAINTRUST_API_URL"] = url;
    const ConfigError e = load_error({}, env);
    EXPECT_EQ(std::string(e.what()).find("s3cr3t-pw"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("api.url"), std::string::npos) << e.what();
    const ConfigError from_flag = load_error({"--api.url=" + url});
    EXPECT_EQ(std::string(from_flag.what()).find("s3cr3t-pw"), std::string::npos) << from_flag.what();
  }
  // A URL the sender would refuse at startup is refused here already (--check-config).
  const ConfigError no_host = load_error({"--api.url=https://"});
  EXPECT_EQ(no_host.key(), "api.url") << no_host.what();
}

TEST(ConfigErrors, TomlParseErrorsDoNotQuoteTheKey) {
  TempFile file("[api]\nkey = 0x5ECRE7\n");
  const ConfigError e = load_error({"--config=" + file.path()});
  EXPECT_EQ(std::string(e.what()).find("'R'"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << "still says where: " << e.what();
}

TEST(ConfigPrint, NeverShowsUrlCredentials) {
  DaemonConfig config = load({});
  config.library.api_url = "https://user:s3cr3t-pw@api.example.com";  // as if it had got through
  const std::string printed = print_config(config);
  EXPECT_EQ(printed.find("s3cr3t-pw"), std::string::npos) << printed;
  EXPECT_NE(printed.find("https://<redacted>@api.example.com"), std::string::npos) << printed;
}

// One size, duration and boolean syntax for every setting and every source: the library's
// and the daemon's settings used to disagree (ingest.max_line_bytes=4k was refused).
TEST(ConfigUnifiedValues, OneSyntaxForEverySettingAndSource) {
  TempFile file(R"(
[ingest]
max_line_bytes = "4k"
[queue]
max_bytes = "128k"
[batch]
zstd_level = -3
[proxy]
timeout_ms = "2m"
enabled = "off"
)");
  FakeEnv env;
  env.vars["SPANLINE_INGEST_MAX_BODY_BYTES"] = "2m";
  env.vars["SPANLINE_SPOOL_OUTAGE_AFTER_MS"] = "15s";
  const DaemonConfig c =
      load({"--config", file.path(), "--ingest.max_depth=32", "--http.tls_verify=no"}, env);
  EXPECT_EQ(c.ingest.max_line_bytes, 4096u);
  EXPECT_EQ(c.library.max_queue_bytes, std::size_t{128} << 10);
  EXPECT_EQ(c.library.zstd_level, -3);  // a negative TOML integer reaches its setting
  EXPECT_EQ(c.ingest.proxy_timeout.count(), 120'000);
  EXPECT_FALSE(c.ingest.proxy);
  EXPECT_EQ(c.ingest.max_body_bytes, std::size_t{2} << 20);
  EXPECT_EQ(c.library.spool_outage_after.count(), 15'000);
  EXPECT_FALSE(c.library.tls_verify);
  EXPECT_EQ(load({"--ingest.max_line_bytes=4k"}).ingest.max_line_bytes, 4096u);
}

TEST(ConfigUnifiedValues, OverflowAndBadUnitsNameSettingAndSource) {
  const ConfigError overflow = load_error({"--ingest.max_body_bytes=17179869184G"});
  EXPECT_EQ(overflow.source(), "flag --ingest.max_body_bytes");
  EXPECT_EQ(overflow.key(), "ingest.max_body_bytes");
  EXPECT_NE(overflow.reason().find("fits in 64 bits"), std::string::npos) << overflow.what();

  FakeEnv env;
  env.vars["SPANLINE_SPOOL_MAX_BYTES"] = "1TB";
  const ConfigError unit = load_error({}, env);
  EXPECT_EQ(unit.source(), "environment SPANLINE_SPOOL_MAX_BYTES");
  EXPECT_EQ(unit.key(), "spool.max_bytes");
  EXPECT_NE(unit.reason().find("unknown unit 'TB'"), std::string::npos) << unit.what();

  TempFile file("[ingest]\nidle_timeout_ms = \"5 days\"\n");
  const ConfigError duration = load_error({"--config=" + file.path()});
  EXPECT_EQ(duration.source(), file.path() + ":2");
  EXPECT_EQ(duration.key(), "ingest.idle_timeout_ms");
  EXPECT_NE(duration.reason().find("duration"), std::string::npos) << duration.what();

  const ConfigError range = load_error({"--ingest.max_line_bytes=65MiB"});
  EXPECT_NE(range.reason().find("[64, 64MiB]"), std::string::npos) << range.what();
}

// The library's validation names its setting itself; the daemon no longer takes the message apart.
TEST(ConfigUnifiedValues, LibraryValidationKeepsItsKey) {
  const ConfigError e = load_error({"--retry.base_delay_ms=500", "--retry.max_delay_ms=100"});
  EXPECT_EQ(e.key(), "retry.max_delay_ms");
  EXPECT_EQ(e.reason(), "must be >= retry.base_delay_ms, got 100");
}

TEST(ConfigWarnings, NoApiKeyIsAWarningNotAnError) {
  const DaemonConfig without_key = load({});
  ASSERT_EQ(config_warnings(without_key).size(), 1u);
  EXPECT_NE(config_warnings(without_key).front().find("no API key"), std::string::npos);
  FakeEnv env;
  env.vars["BRAINTRUST_API_KEY"] = "sk-present";
  EXPECT_TRUE(config_warnings(load({}, env)).empty());
}

TEST(ConfigErrors, UnknownFlagIsNamed) {
  try {
    (void)cli({"--queue.max_byts=5"});
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.source(), "flag --queue.max_byts");
    EXPECT_EQ(e.key(), "queue.max_byts");
    EXPECT_NE(e.reason().find("unknown flag"), std::string::npos);
  }
  try {
    (void)cli({"--check-config", "--queue.max_bytes"});
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.source(), "flag --queue.max_bytes");
    EXPECT_EQ(e.reason(), "needs a value");
  }
  // Repeated flags: the last one wins, as with the environment over the file.
  EXPECT_EQ(load({"--batch.max_rows=5", "--batch.max_rows", "7"}).library.batch_max_rows, 7u);
  EXPECT_EQ(cli({"--print-settings-reference=man"}).settings_reference, "man");
  EXPECT_THROW(cli({"--print-settings-reference=html"}), ConfigError);
  EXPECT_EQ(load({"--batch.zstd_level", "-3"}).library.zstd_level, -3);
}

TEST(ConfigHelp, ListsEverySetting) {
  const std::string help = help_text();
  for (auto name : option_names()) EXPECT_NE(help.find("--" + std::string(name)), std::string::npos) << name;
  for (auto name : daemon_setting_names())
    EXPECT_NE(help.find("--" + std::string(name)), std::string::npos) << name;
}

}  // namespace
}  // namespace spanline::agent

namespace spanline::agent {
namespace {

TEST(ConfigPackaging, DefaultConfigFileLoadsAndMatchesDefaults) {
  const auto path = std::filesystem::path(SPANLINE_SOURCE_DIR) / "packaging/spanlined.toml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  FakeEnv env;
  const DaemonConfig from_file = load({"--config=" + path.string()}, env);
  DaemonConfig defaults = load({}, env);
  defaults.library.spool_dir = from_file.library.spool_dir;  // the package turns the spool on on purpose
  auto body = [](const std::string& s) { return s.substr(s.find('\n')); };
  EXPECT_EQ(body(print_config(from_file)), body(print_config(defaults)))
      << "packaging/spanlined.toml documents values that differ from the built-in defaults";
}

}  // namespace
}  // namespace spanline::agent
