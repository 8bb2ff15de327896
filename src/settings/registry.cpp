#include "settings/registry.hpp"

#include "transport/url.hpp"

namespace spanline::settings {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::text:
      return "TEXT";
    case Type::path:
      return "PATH";
    case Type::url:
      return "URL";
    case Type::boolean:
      return "BOOL";
    case Type::count:
      return "N";
    case Type::integer:
      return "INT";
    case Type::size:
      return "SIZE";
    case Type::duration:
      return "DURATION";
    case Type::choice:
      return "CHOICE";
    case Type::list:
      return "LIST";
    case Type::address:
      return "HOST:PORT";
    case Type::file_mode:
      return "MODE";
  }
  return "TEXT";
}

bool needs_unit(Type type) { return type == Type::size || type == Type::duration || type == Type::count; }

bool prints_bare(Type type) {
  return type == Type::boolean || type == Type::count || type == Type::integer || type == Type::size ||
         type == Type::duration;
}

std::string shown_value(const Info& info, const std::string& text) {
  if (info.secret && !text.empty()) return "<redacted>";
  if (info.type == Type::url) return detail::redact_url(text);
  return text;
}

std::vector<SourcedValue> read_environment(const std::vector<Info>& infos, const EnvLookup& env) {
  std::vector<SourcedValue> out;
  for (const Info& info : infos) {
    // The SDK's variable is skipped when empty, as the official SDKs do; SPANLINE_<NAME>= set
    // to nothing is a value ("" turns spool.dir off).
    if (!info.sdk_env.empty()) {
      if (const char* value = env(info.sdk_env.c_str()); value != nullptr && *value != '\0') {
        out.push_back(SourcedValue{"environment " + info.sdk_env, info.name, value});
      }
    }
    const std::string variable = env_name(info.name);
    if (const char* value = env(variable.c_str()); value != nullptr) {
      out.push_back(SourcedValue{"environment " + variable, info.name, value});
    }
  }
  return out;
}

}  // namespace spanline::settings
