// The registry is complete (every setting described, with a unit where one applies) and the
// generated references are the committed ones.

#include "daemon_settings.hpp"

#include "agent/daemon_process.hpp"
#include "settings/library_settings.hpp"
#include "settings/reference.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace spanline::agent {
namespace {

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::filesystem::path(SPANLINE_SOURCE_DIR) / relative, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first line where two texts differ, to say what to regenerate.
std::string first_difference(const std::string& committed, const std::string& generated) {
  std::istringstream a(committed), b(generated);
  std::string line_a, line_b;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) return "";
    if (line_a != line_b || more_a != more_b) {
      return "line " + std::to_string(line) + ":\n  committed: " + (more_a ? line_a : "<end>") +
             "\n  generated: " + (more_b ? line_b : "<end>");
    }
  }
}

TEST(SettingsRegistry, EverySettingIsDescribedWithItsUnit) {
  const auto infos = daemon_settings().infos();
  ASSERT_GT(infos.size(), 50u);
  for (const settings::Info& info : infos) {
    SCOPED_TRACE(info.name);
    EXPECT_FALSE(info.description.empty()) << "needs a one-line description";
    EXPECT_EQ(info.description.find('\n'), std::string::npos) << "one line";
    EXPECT_NE(info.description.back(), '.') << "no final period: the generators add their own punctuation";
    if (settings::needs_unit(info.type)) {
      EXPECT_FALSE(info.unit.empty()) << "a quantity needs its unit";
    }
    if (info.type == settings::Type::size) {
      EXPECT_EQ(info.unit, "bytes");
    }
    if (info.type == settings::Type::duration) {
      EXPECT_EQ(info.unit, "ms");
    }
    if (info.type == settings::Type::choice) {
      EXPECT_GE(info.choices.size(), 2u);
    }
  }
}

TEST(SettingsRegistry, DaemonRegistryHoldsTheLibrarysEntriesFirst) {
  const auto& library = settings::library_settings().entries();
  const auto& daemon = daemon_settings().entries();
  ASSERT_GT(daemon.size(), library.size());
  for (std::size_t i = 0; i < library.size(); ++i) {
    EXPECT_EQ(daemon[i].info.name, library[i].info.name);
    EXPECT_EQ(daemon[i].info.scope, settings::Scope::library);
  }
  for (std::size_t i = library.size(); i < daemon.size(); ++i) {
    EXPECT_EQ(daemon[i].info.scope, settings::Scope::daemon) << daemon[i].info.name;
  }
}

TEST(SettingsRegistry, EveryDefaultReadsBack) {
  for (const auto& setting : daemon_settings().entries()) {
    SCOPED_TRACE(setting.info.name);
    SettingsTarget target{default_config([](const char*) -> const char* { return nullptr; }), {}};
    ASSERT_NO_THROW(setting.parse(target, setting.info.default_text));
    EXPECT_EQ(setting.print(target), setting.info.default_text);
  }
}

TEST(SettingsRegistry, SecretsAreNeverEchoed) {
  const std::string secret = "s3cr3t\x01value";  // refused by any checking parser
  for (const auto& setting : daemon_settings().entries()) {
    if (!setting.info.secret) continue;
    SCOPED_TRACE(setting.info.name);
    SettingsTarget target;
    try {
      daemon_settings().set(target, setting.info.name, secret);
    } catch (const settings::SettingError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cr3t"), std::string::npos) << e.what();
    }
    EXPECT_EQ(settings::shown_value(setting.info, "s3cr3t"), "<redacted>");
  }
}

TEST(SettingsReference, HelpHasOneLinePerSettingWithDefaultAndUnit) {
  const std::string help = help_text();
  for (const settings::Info& info : daemon_settings().infos()) {
    SCOPED_TRACE(info.name);
    const std::size_t at = help.find("\n  --" + info.name + "=");
    ASSERT_NE(at, std::string::npos);
    const std::string line = help.substr(at + 1, help.find('\n', at + 1) - at - 1);
    std::string bracket = "[" + settings::documented_default(info);
    if (!info.unit.empty()) bracket += ", " + info.unit;
    EXPECT_NE(line.find(bracket + "]"), std::string::npos) << line;
    EXPECT_NE(line.find(info.description), std::string::npos) << line;
  }
  EXPECT_NE(help.find("[64MiB, bytes]"), std::string::npos);
  EXPECT_NE(help.find("[200, ms]"), std::string::npos);
  EXPECT_EQ(help.find("sk-"), std::string::npos);
}

TEST(SettingsReference, MarkdownIsTheCommittedDocsSettingsMd) {
  const std::string generated = settings_reference("markdown");
  for (const settings::Info& info : daemon_settings().infos()) {
    EXPECT_NE(generated.find("| `" + info.name + "` |"), std::string::npos) << info.name;
  }
  const std::string committed = read_source_file("docs/settings.md");
  EXPECT_TRUE(committed == generated)
      << "docs/settings.md differs from the registry; regenerate it with\n"
         "  spanlined --print-settings-reference=markdown > docs/settings.md\nfirst difference at "
      << first_difference(committed, generated);
}

TEST(SettingsReference, ManPageIsTheCommittedSpanlined8) {
  const std::string generated = settings_reference("man");
  for (const settings::Info& info : daemon_settings().infos()) {
    EXPECT_NE(generated.find(".BR " + settings::man_escape(info.name) + " "), std::string::npos) << info.name;
  }
  const std::string committed = read_source_file("packaging/spanlined.8");
  EXPECT_TRUE(committed == generated)
      << "packaging/spanlined.8 differs from the registry; regenerate it with\n"
         "  spanlined --print-settings-reference=man > packaging/spanlined.8\nfirst difference at "
      << first_difference(committed, generated);
  EXPECT_THROW((void)settings_reference("html"), std::invalid_argument);
}

TEST(SettingsReference, ManEscapesWhatRoffWouldRead) {
  EXPECT_EQ(settings::man_escape("a-b\\c"), "a\\-b\\ec");
  EXPECT_EQ(settings::man_escape(".starts with a dot"), "\\&.starts with a dot");
}

// The binary prints what the function returns: the documented regeneration command works.
TEST(SettingsReference, DaemonPrintsTheReference) {
  for (const std::string format : {"markdown", "man"}) {
    testing::ChildProcess daemon(SPANLINE_BINARY_DIR "/spanlined", {"--print-settings-reference=" + format},
                                 {});
    ASSERT_EQ(daemon.wait_exit(), 0) << daemon.stderr_text();
    EXPECT_EQ(daemon.stdout_text(), settings_reference(format));
  }
  testing::ChildProcess bad(SPANLINE_BINARY_DIR "/spanlined", {"--print-settings-reference=html"}, {});
  EXPECT_EQ(bad.wait_exit(), 2) << bad.stderr_text();
}

// --check-config warns when no API key is configured, and a configuration valid otherwise
// still passes (exit 0); with a key there is no warning.
TEST(CheckConfig, WarnsWithoutApiKeyAndStillSucceeds) {
  testing::ChildProcess without_key(SPANLINE_BINARY_DIR "/spanlined", {"--check-config"}, {});
  ASSERT_EQ(without_key.wait_exit(), 0) << without_key.stderr_text();
  EXPECT_NE(without_key.stderr_text().find("warning: no API key"), std::string::npos)
      << without_key.stderr_text();
  EXPECT_NE(without_key.stdout_text().find("configuration OK"), std::string::npos)
      << without_key.stdout_text();

  testing::ChildProcess with_key(SPANLINE_BINARY_DIR "/spanlined", {"--check-config"},
                                 {{"BRAINTRUST_API_KEY", "sk-check-config-test"}});
  ASSERT_EQ(with_key.wait_exit(), 0) << with_key.stderr_text();
  EXPECT_EQ(with_key.stderr_text().find("warning"), std::string::npos) << with_key.stderr_text();

  testing::ChildProcess invalid(SPANLINE_BINARY_DIR "/spanlined", {"--check-config", "--queue.max_bytes=4kb"},
                                {});
  EXPECT_EQ(invalid.wait_exit(), 2);
  EXPECT_NE(invalid.stderr_text().find("flag --queue.max_bytes: queue.max_bytes: "), std::string::npos)
      << invalid.stderr_text();
  EXPECT_NE(invalid.stderr_text().find("unknown unit 'kb'"), std::string::npos) << invalid.stderr_text();
}

}  // namespace
}  // namespace spanline::agent
