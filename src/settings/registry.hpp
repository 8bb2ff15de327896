#pragma once
// The settings registry: each setting is one entry (name, type, default, unit, one-line
// description, parser, printer, secret or not). Everything that reads or shows settings goes
// through it: set_option() and the environment (library), the TOML file, the flags,
// --print-config and --check-config (daemon), and the generated --help, docs/settings.md and
// spanlined(8).
//
// A Registry<Target> writes into one Target: the library's registers into Options
// (library_settings.hpp); the daemon's takes those entries over (add_all) and adds its own
// (agent/daemon_settings.hpp). Registration happens once, while the registry is built; a
// registry is immutable afterwards and safe to read from any thread.

#include "settings/values.hpp"

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace spanline::settings {

// What a value looks like; decides the syntax shown in --help, how a TOML value becomes text,
// whether --print-config writes it bare, and whether a unit must be documented.
enum class Type {
  text,       // any string
  path,       // a file or directory path; "" (or "off" where the entry says so) for none
  url,        // a URL; any user:password in it is never shown
  boolean,    // true/false (yes/no, on/off, 1/0)
  count,      // a non-negative whole quantity: needs a unit ("rows", "threads")
  integer,    // a whole number that may be negative (a level, not a quantity)
  size,       // bytes, parse_size(): unit "bytes"
  duration,   // milliseconds, parse_duration(): unit "ms"
  choice,     // one of Info::choices
  list,       // comma-separated (a TOML array of strings also works)
  address,    // host:port, or off
  file_mode,  // an octal file mode ("0660"; a TOML integer 0o660 too)
};

std::string_view type_name(Type type);  // "SIZE", "DURATION", ... as shown in --help
bool needs_unit(Type type);             // quantities: size, duration, count
bool prints_bare(Type type);            // a TOML number or boolean rather than a string

// Who reads the setting: the in-process library (and so the daemon too), or only spanlined.
enum class Scope { library, daemon };

struct Info {
  std::string name;  // dotted: "<section>.<key>"
  Type type = Type::text;
  std::string unit;                  // "bytes", "ms", "rows"...; "" where none applies
  std::string description;           // one line, lower case start, no final period
  bool secret = false;               // shown as <redacted> when set; a parser must not echo its value
  std::vector<std::string> choices;  // Type::choice: the accepted values, as documented
  std::string sdk_env;       // also read from this variable when set and non-empty (BRAINTRUST_API_KEY)
  std::string default_note;  // the documented default where the built-in one depends on the machine
  bool hide_empty = false;   // --print-config leaves it out while empty (one of a group of alternatives)
  Scope scope = Scope::library;
  std::string default_text;  // the printer's text for the registry's default target; set by add()
};

// The text a user may see for a value: secrets redacted, credentials in URLs hidden.
std::string shown_value(const Info& info, const std::string& text);

// A value and where it came from, before it is applied ("environment SPANLINE_QUEUE_MAX_ROWS",
// "/etc/spanline/spanlined.toml:12", "flag --queue.max_rows").
struct SourcedValue {
  std::string source;
  std::string name;
  std::string text;
};

// Looks up an environment variable; nullptr when unset. Tests pass a map.
using EnvLookup = std::function<const char*(const char*)>;

// Every variable that sets one of `infos`: its SDK variable (Info::sdk_env, when non-empty),
// then SPANLINE_<NAME> (env_name()), in registry order; later entries win when applied.
std::vector<SourcedValue> read_environment(const std::vector<Info>& infos, const EnvLookup& env);

template <class Target>
struct Setting {
  Info info;
  std::function<void(Target&, std::string_view)> parse;  // throws std::invalid_argument(reason)
  std::function<std::string(const Target&)> print;       // text that parse() reads back
};

template <class Target>
class Registry {
 public:
  // `defaults` is the target every default_text is printed from.
  explicit Registry(Target defaults) : defaults_(std::move(defaults)) {}

  // Throws std::logic_error for a name registered twice or an entry missing a description,
  // parser or printer: a programming error found the first time the registry is built.
  void add(Setting<Target> setting) {
    if (find(setting.info.name) != nullptr)
      throw std::logic_error("setting registered twice: " + setting.info.name);
    if (!setting.parse || !setting.print || setting.info.name.find('.') == std::string::npos) {
      throw std::logic_error("setting " + setting.info.name + " needs a dotted name, a parser and a printer");
    }
    setting.info.default_text = setting.print(defaults_);
    entries_.push_back(std::move(setting));
  }

  // Takes over every entry of `inner`, reaching its target through `project` (Target& ->
  // Inner&, called with a const Target& for printing too).
  template <class Inner, class Project>
  void add_all(const Registry<Inner>& inner, Project project) {
    for (const Setting<Inner>& entry : inner.entries()) {
      add(Setting<Target>{
          entry.info,
          [parse = entry.parse, project](Target& target, std::string_view text) {
            parse(project(target), text);
          },
          [print = entry.print, project](const Target& target) { return print(project(target)); }});
    }
  }

  const Setting<Target>* find(std::string_view name) const {
    const auto it = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Setting<Target>& s) { return s.info.name == name; });
    return it == entries_.end() ? nullptr : &*it;
  }

  // Throws SettingError naming the setting: unknown, or a value its parser refuses.
  void set(Target& target, std::string_view name, std::string_view text) const {
    const Setting<Target>* setting = find(name);
    if (setting == nullptr) throw SettingError(std::string(name), "is not a known setting");
    try {
      setting->parse(target, text);
    } catch (const SettingError&) {
      throw;
    } catch (const std::invalid_argument& e) {
      throw SettingError(std::string(name), e.what());
    }
  }

  const std::vector<Setting<Target>>& entries() const { return entries_; }

  std::vector<Info> infos() const {
    std::vector<Info> out;
    out.reserve(entries_.size());
    for (const auto& entry : entries_) out.push_back(entry.info);
    return out;
  }

 private:
  Target defaults_;
  std::vector<Setting<Target>> entries_;
};

// ---- entries for the common types ------------------------------------------------------
// `field` is a generic lambda returning a reference to the value inside the target, e.g.
// [](auto& o) -> auto& { return o.max_queue_bytes; }: called on a Target& to parse and on a
// const Target& to print.

template <class Target, class Field>
Setting<Target> text_setting(Info info, Field field) {
  if (info.type != Type::path && info.type != Type::url) info.type = Type::text;
  return {std::move(info), [field](Target& t, std::string_view v) { field(t) = std::string(v); },
          [field](const Target& t) { return std::string(field(t)); }};
}

template <class Target, class Field>
Setting<Target> bool_setting(Info info, Field field) {
  info.type = Type::boolean;
  return {std::move(info), [field](Target& t, std::string_view v) { field(t) = parse_bool(v); },
          [field](const Target& t) { return std::string(field(t) ? "true" : "false"); }};
}

template <class Target, class Field>
Setting<Target> count_setting(Info info, Field field, Range range = {}) {
  info.type = Type::count;
  return {std::move(info),
          [field, range](Target& t, std::string_view v) {
            using Value = std::remove_reference_t<decltype(field(t))>;
            field(t) = static_cast<Value>(parse_count(v, range));
          },
          [field](const Target& t) { return std::to_string(field(t)); }};
}

template <class Target, class Field>
Setting<Target> integer_setting(Info info, Field field, int min, int max) {
  info.type = Type::integer;
  return {std::move(info),
          [field, min, max](Target& t, std::string_view v) { field(t) = parse_integer(v, min, max); },
          [field](const Target& t) { return std::to_string(field(t)); }};
}

template <class Target, class Field>
Setting<Target> size_setting(Info info, Field field, Range range = {}) {
  info.type = Type::size;
  if (info.unit.empty()) info.unit = "bytes";
  return {std::move(info),
          [field, range](Target& t, std::string_view v) {
            using Value = std::remove_reference_t<decltype(field(t))>;
            field(t) = static_cast<Value>(parse_size(v, range));
          },
          [field](const Target& t) { return std::to_string(field(t)); }};
}

template <class Target, class Field>
Setting<Target> duration_setting(Info info, Field field, Range range_ms = {0, std::uint64_t{1} << 40}) {
  info.type = Type::duration;
  if (info.unit.empty()) info.unit = "ms";
  return {std::move(info),
          [field, range_ms](Target& t, std::string_view v) { field(t) = parse_duration(v, range_ms); },
          [field](const Target& t) { return std::to_string(field(t).count()); }};
}

// `values` lists every accepted text with its value, the documented ones first; `documented`
// of them are shown (the rest are aliases, e.g. "warning" for "warn").
template <class Target, class Field, class Enum>
Setting<Target> choice_setting(Info info, Field field, std::vector<std::pair<std::string, Enum>> values,
                               std::size_t aliases = 0) {
  info.type = Type::choice;
  info.choices.clear();
  for (std::size_t i = 0; i + aliases < values.size(); ++i) info.choices.push_back(values[i].first);
  std::string expected = "one of ";
  for (const auto& choice : info.choices) expected += (choice == info.choices.front() ? "" : ", ") + choice;
  return {std::move(info),
          [field, values, expected](Target& t, std::string_view v) {
            for (const auto& [text, value] : values) {
              if (text == v) {
                field(t) = value;
                return;
              }
            }
            throw std::invalid_argument("must be " + expected + ", got '" + std::string(v) + "'");
          },
          [field, values](const Target& t) {
            for (const auto& [text, value] : values) {
              if (value == field(t)) return text;
            }
            return std::string("unknown");
          }};
}

}  // namespace spanline::settings
