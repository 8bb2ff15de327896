// The example clients in examples/ (Python, Node, Go) against the real spanlined and the
// fake API: each logs a span with a child span, a merge update and a score, and the rows
// that arrive upstream must be exactly those, merged.

#include "agent/daemon_process.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>

namespace spanline::testing {
namespace {

namespace json = boost::json;

const std::string kApiKey = "sk-examples-test-0123456789";
const std::string kExamples = SPANLINE_SOURCE_DIR "/examples";

bool have_tool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// scripts/install-deps.sh installs python3, nodejs and golang-go, so a CI machine without
// one is broken; elsewhere the test says what is missing and skips.
bool required_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The member at `path` inside `row`, or null when there is none.
json::value at_path(const json::object& row, std::initializer_list<std::string_view> path) {
  const json::value* here = nullptr;
  const json::object* object = &row;
  for (const auto key : path) {
    if (object == nullptr) return nullptr;
    here = object->if_contains(key);
    if (here == nullptr) return nullptr;
    object = here->if_object();
  }
  return here != nullptr ? *here : json::value(nullptr);
}

double number_at(const json::object& row, std::initializer_list<std::string_view> path) {
  const json::value value = at_path(row, path);
  return value.is_number() ? value.to_number<double>() : -1;
}

void run_example(const std::string& tool, const std::vector<std::string>& command) {
  if (!have_tool(tool)) {
    if (required_in_ci()) FAIL() << tool << " is not installed (scripts/install-deps.sh installs it)";
    GTEST_SKIP() << tool << " is not installed: the " << tool << " example client was not run";
  }
  fakeapi::ServerConfig config;
  config.api_key = kApiKey;
  fakeapi::FakeApi api(config);
  TempDir dir;
  RunningDaemon daemon =
      launch_daemon(SPANLINE_BINARY_DIR "/spanlined",
                    {"--ingest.uds_path=" + dir.file("s.sock"), "--ingest.datagram_path=off",
                     "--ingest.http_listen=off", "--admin.listen=127.0.0.1:0", "--batch.linger_ms=5"},
                    api.base_url(), kApiKey);
  const std::string project = "example-" + tool;
  ChildProcess client("/usr/bin/env", command,
                      {{"SPANLINE_SOCKET", daemon.uds},
                       {"SPANLINE_PROJECT_NAME", project},
                       {"HOME", std::getenv("HOME") != nullptr ? std::getenv("HOME") : dir.file("home")}});
  ASSERT_EQ(client.wait_exit(180s), 0) << client.stderr_text();
  const json::object ids = json::parse(client.stdout_text()).as_object();
  const std::string root_id(ids.at("root_id").as_string());
  const std::string child_id(ids.at("child_id").as_string());
  EXPECT_EQ(ids.at("project_name").as_string(), project);

  // The score is the last merge: once it is there, every row of the example has arrived.
  std::string project_id;
  ASSERT_TRUE(wait_until([&] {
    project_id = api.project_id(project);
    if (project_id.empty()) return false;
    const auto root = api.row("project_logs", project_id, root_id);
    return root && !at_path(*root, {"scores", "correct"}).is_null() &&
           api.row("project_logs", project_id, child_id);
  })) << "rows did not arrive; daemon stderr:\n"
      << daemon.process->stderr_text();

  EXPECT_EQ(api.row_count("project_logs", project_id), 2u);
  const json::object root = *api.row("project_logs", project_id, root_id);
  const json::object child = *api.row("project_logs", project_id, child_id);
  // The full row and both merges into it.
  EXPECT_EQ(at_path(root, {"span_attributes", "name"}), json::value("chat")) << root;
  EXPECT_EQ(at_path(root, {"input", "question"}), json::value("What is 2 + 2?")) << root;
  EXPECT_EQ(at_path(root, {"output", "answer"}), json::value("4")) << root;
  EXPECT_EQ(number_at(root, {"scores", "correct"}), 1.0) << root;
  EXPECT_EQ(number_at(root, {"metrics", "completion_tokens"}), 1.0) << root;
  EXPECT_GT(number_at(root, {"metrics", "start"}), 1e9) << root;
  EXPECT_GE(number_at(root, {"metrics", "end"}), number_at(root, {"metrics", "start"})) << root;
  EXPECT_EQ(at_path(root, {"span_id"}), at_path(root, {"root_span_id"})) << root;
  // The routing key chose the project and stayed out of the row.
  EXPECT_FALSE(root.contains("project_name")) << root;
  EXPECT_FALSE(child.contains("project_name")) << child;
  // The child hangs under the root.
  EXPECT_EQ(at_path(child, {"root_span_id"}), at_path(root, {"span_id"})) << child;
  EXPECT_EQ(at_path(child, {"span_parents"}), json::value(json::array{at_path(root, {"span_id"})})) << child;
  EXPECT_EQ(at_path(child, {"span_attributes", "type"}), json::value("tool")) << child;
  EXPECT_EQ(number_at(child, {"output"}), 4.0) << child;

  const auto metrics = http_get(daemon.admin, "/metrics").body;
  EXPECT_NE(metrics.find("spanline_ingest_events_total{listener=\"uds\"} 4\n"), std::string::npos) << metrics;
  daemon.process->signal(SIGTERM);
  EXPECT_EQ(daemon.process->wait_exit(120s), 0) << daemon.process->stderr_text();
}

TEST(ExampleClients, Python) {
  run_example("python3", {"python3", kExamples + "/python/spanline_client.py"});
}

TEST(ExampleClients, Node) { run_example("node", {"node", kExamples + "/node/spanline_client.js"}); }

TEST(ExampleClients, Go) { run_example("go", {"go", "run", kExamples + "/go/main.go"}); }

}  // namespace
}  // namespace spanline::testing
