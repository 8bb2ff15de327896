#pragma once
// Renders registry entries for people: one --help line per setting, a Markdown table and
// man(7) paragraphs. The daemon wraps these in its own usage text and page
// (agent/settings_reference.hpp); the output depends only on the entries, never on the
// machine, so generated files can be checked against it.

#include "settings/registry.hpp"

#include <string>
#include <vector>

namespace spanline::settings {

// The default as documented: Info::default_note when set, sizes as "64MiB", "" as "(none)".
std::string documented_default(const Info& info);

// The description with what every entry of its kind adds: the choices, the SDK variable,
// that a secret is never shown.
std::string full_description(const Info& info);

// "  --queue.max_bytes=SIZE   [64MiB, bytes] memory budget ...", one line, no newline.
std::string help_line(const Info& info);

// A Markdown table of `infos` (setting, default, unit, description), one row each.
std::string markdown_table(const std::vector<Info>& infos);

// man(7) source: one .SS per section ("queue"), one .TP paragraph per setting.
std::string man_paragraphs(const std::vector<Info>& infos);

// Text made safe for man(7): backslashes, hyphens and a leading dot or quote escaped.
std::string man_escape(std::string_view text);

}  // namespace spanline::settings
