#include "settings/reference.hpp"

#include <charconv>

namespace spanline::settings {
namespace {

std::string section_of(const std::string& name) { return name.substr(0, name.find('.')); }

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string documented_default(const Info& info) {
  if (!info.default_note.empty()) return info.default_note;
  const std::string shown = shown_value(info, info.default_text);
  if (shown.empty()) return "(none)";
  if (info.type == Type::size) {
    std::uint64_t bytes = 0;
    const auto [ptr, ec] = std::from_chars(shown.data(), shown.data() + shown.size(), bytes);
    if (ec == std::errc() && ptr == shown.data() + shown.size()) return size_text(bytes);
  }
  return shown;
}

std::string full_description(const Info& info) {
  std::string out = info.description;
  if (info.type == Type::choice) out += "; one of " + join(info.choices, ", ");
  if (!info.sdk_env.empty()) out += "; also " + info.sdk_env;
  if (info.secret) out += "; a secret, printed redacted";
  return out;
}

std::string help_line(const Info& info) {
  const std::string value =
      info.type == Type::choice ? join(info.choices, "|") : std::string(type_name(info.type));
  std::string flag = "  --" + info.name + "=" + value;
  if (flag.size() < 42) flag.resize(42, ' ');
  std::string bracket = "[" + documented_default(info);
  if (!info.unit.empty()) bracket += ", " + info.unit;
  return flag + " " + bracket + "] " + full_description(info);
}

std::string markdown_table(const std::vector<Info>& infos) {
  std::string out = "| setting | default | unit | description |\n|---|---|---|---|\n";
  for (const Info& info : infos) {
    const std::string shown = documented_default(info);
    const std::string default_cell = shown == "(none)" ? "" : "`" + markdown_cell(shown) + "`";
    out += "| `" + info.name + "` | " + default_cell + " | " + info.unit + " | " +
           markdown_cell(full_description(info)) + " |\n";
  }
  return out;
}

std::string man_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

std::string man_paragraphs(const std::vector<Info>& infos) {
  std::string out;
  std::string section;
  for (const Info& info : infos) {
    if (section_of(info.name) != section) {
      section = section_of(info.name);
      out += ".SS " + section + "\n";
    }
    std::string head = "[" + documented_default(info);
    if (!info.unit.empty()) head += ", " + info.unit;
    head += "]";
    out += ".TP\n.BR " + man_escape(info.name) + " \" " + man_escape(head) + "\"\n" +
           man_escape(full_description(info)) + ".\n";
  }
  return out;
}

}  // namespace spanline::settings
