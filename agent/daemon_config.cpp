#include "daemon_config.hpp"

#include "core/destination_id.hpp"
#include "daemon_settings.hpp"
#include "transport/url.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

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

using settings::SourcedValue;

const settings::Setting<SettingsTarget>& setting_named(const std::string& source, const std::string& name) {
  const auto* setting = daemon_settings().find(name);
  if (setting == nullptr) throw ConfigError(source, name, "unknown setting (see spanlined --help)");
  return *setting;
}

void apply(SettingsTarget& target, const SourcedValue& value) {
  (void)setting_named(value.source, value.name);
  try {
    daemon_settings().set(target, value.name, value.text);
  } catch (const settings::SettingError& e) {
    throw ConfigError(value.source, value.name, e.reason());
  }
}

// ---- TOML ------------------------------------------------------------------------
// A value becomes the text its setting parses, so a file and a flag are read alike.

std::string toml_text(const toml::node& node, const settings::Info& info, const std::string& where) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) {
    // A file mode written as a TOML integer (0o660) is a number; the setting reads octal text.
    if (info.type == settings::Type::file_mode) {
      std::ostringstream out;
      out << '0' << std::oct << i->get();
      return out.str();
    }
    return std::to_string(i->get());
  }
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* array = node.as_array()) {
    if (info.type != settings::Type::list)
      throw ConfigError(where, info.name, "must be a string, not an array");
    std::vector<std::string> items;
    for (auto&& item : *array) {
      const auto* s = item.as_string();
      if (s == nullptr) throw ConfigError(where, info.name, "must be an array of strings");
      items.push_back(s->get());
    }
    return settings::join_list(items);
  }
  if (node.is_floating_point())
    throw ConfigError(where, info.name, "must be a whole number or a string, not a float");
  throw ConfigError(where, info.name, "must be a string, a whole number or a boolean");
}

void flatten(const toml::table& table, const std::string& prefix, const std::string& file,
             std::vector<SourcedValue>& out) {
  for (auto&& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    const std::string where = file + ":" + std::to_string(node.source().begin.line);
    if (const auto* sub = node.as_table()) {
      flatten(*sub, name, file, out);
      continue;
    }
    const auto& setting = setting_named(where, name);
    out.push_back(SourcedValue{where, name, toml_text(node, setting.info, where)});
  }
}

// A TOML parse error's description without the input it quotes ("..., saw 'R'"): the
// line may hold api.key, and line:column already says where to look.
std::string without_quoted_input(std::string_view description) {
  const std::size_t saw = description.find(", saw '");
  return std::string(description.substr(0, saw));
}

std::vector<SourcedValue> read_file(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    std::string where = path;
    if (begin.line > 0) where += ":" + std::to_string(begin.line) + ":" + std::to_string(begin.column);
    throw ConfigError(where, "", without_quoted_input(e.description()));
  }
  std::vector<SourcedValue> out;
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
  } catch (const settings::SettingError& e) {
    throw ConfigError("", e.setting(), e.reason());
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
    for (const auto& setting : daemon_settings().entries()) {
      if (setting.info.scope == settings::Scope::daemon) out.push_back(setting.info.name);
    }
    return out;
  }();
  return names;
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine out;
  CLI::App app{"spanlined"};
  // help_text() is generated from the registry; CLI11's own would list bare flags.
  app.set_help_flag();
  // Unknown arguments are collected, not thrown, so the error can name the flag.
  app.allow_extras();
  std::string config_file;
  std::string reference;
  auto* config_option = app.add_option("-c,--config", config_file);
  app.add_flag("--check-config", out.check_config);
  app.add_flag("--print-config", out.print_config);
  app.add_flag("--version", out.version);
  app.add_flag("-h,--help", out.help);
  auto* reference_option =
      app.add_option("--print-settings-reference", reference)->check(CLI::IsMember({"markdown", "man"}));
  std::vector<std::pair<std::string, CLI::Option*>> setting_options;
  for (const auto& setting : daemon_settings().entries()) {
    // Repeating a flag is allowed; the last one wins, as before.
    CLI::Option* option = app.add_option("--" + setting.info.name)
                              ->type_name(std::string(settings::type_name(setting.info.type)))
                              ->type_size(1)
                              ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    setting_options.emplace_back(setting.info.name, option);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 words it "--queue.max_bytes: 1 required SIZE missing".
    const std::string what = e.what();
    throw ConfigError("flag " + what.substr(0, what.find(':')), "", "needs a value");
  } catch (const CLI::ParseError& e) {
    throw ConfigError("command line", "", e.what());
  }
  for (const std::string& extra : app.remaining()) {
    if (extra.rfind("--", 0) == 0) {
      const std::string name =
          extra.substr(2, extra.find('=') == std::string::npos ? std::string::npos : extra.find('=') - 2);
      throw ConfigError("flag --" + name, name, "unknown flag (see spanlined --help)");
    }
    throw ConfigError("argument '" + extra + "'", "", "unexpected argument");
  }
  if (config_option->count() > 0) out.config_file = config_file;
  if (reference_option->count() > 0) out.settings_reference = reference;
  for (const auto& [name, option] : setting_options) {
    for (const std::string& value : option->results()) out.settings.emplace_back(name, value);
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
  SettingsTarget target{default_config(env), {}};
  std::vector<SourcedValue> values;

  std::optional<std::string> file = command_line.config_file;
  if (!file) {
    if (const char* from_env = env("SPANLINE_CONFIG"); from_env != nullptr && *from_env != '\0')
      file = from_env;
  }
  if (file) {
    values = read_file(*file);
    target.config.config_file = *file;
  }
  for (auto& value : settings::read_environment(daemon_settings().infos(), env))
    values.push_back(std::move(value));
  for (const auto& [name, value] : command_line.settings)
    values.push_back(SourcedValue{"flag --" + name, name, value});
  // Later values win: file, then environment, then flags.
  for (const SourcedValue& value : values) apply(target, value);

  target.config.default_destination = make_destination(target.destination);
  check(target.config);
  return std::move(target.config);
}

std::string print_config(const DaemonConfig& config) {
  SettingsTarget target{config, {}};
  if (const auto& d = config.default_destination) {
    if (d->kind == Destination::Kind::experiment)
      target.destination.experiment_id = d->id;
    else if (d->kind == Destination::Kind::dataset)
      target.destination.dataset_id = d->id;
    else if (!d->id.empty())
      target.destination.project_id = d->id;
    else
      target.destination.project_name = d->project_name;
  }
  // Regroup "section.name" pairs into TOML tables.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& setting : daemon_settings().entries()) {
    const settings::Info& info = setting.info;
    const std::string value = settings::shown_value(info, setting.print(target));
    if (info.hide_empty && value.empty()) continue;
    const bool bare = settings::prints_bare(info.type) && !value.empty();
    std::string text;
    if (bare) {
      text = value;
    } else {
      text = "\"";
      for (char c : value) {
        if (c == '"' || c == '\\') text += '\\';
        text += c;
      }
      text += '"';
    }
    const std::size_t dot = info.name.find('.');
    sections[info.name.substr(0, dot)].emplace_back(info.name.substr(dot + 1), std::move(text));
  }
  std::string out = "# spanlined effective configuration";
  if (!config.config_file.empty()) out += " (file: " + config.config_file + ")";
  out += "\n";
  for (const auto& [section, entries] : sections) {
    out += "\n[" + section + "]\n";
    for (const auto& [key, value] : entries) out += key + " = " + value + "\n";
  }
  return out;
}

std::vector<std::string> config_warnings(const DaemonConfig& config) {
  std::vector<std::string> out;
  if (config.library.api_key.empty()) {
    out.emplace_back("no API key (BRAINTRUST_API_KEY or api.key): the API will refuse every request");
  }
  return out;
}

}  // namespace spanline::agent
