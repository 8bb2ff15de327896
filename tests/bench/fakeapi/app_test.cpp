// The fake API's app endpoints (bench/fakeapi/app.hpp): what the official SDKs call on
// BRAINTRUST_APP_URL before they log.
#include "app.hpp"

#include "agent/daemon_process.hpp"
#include "fake_api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace spanline::fakeapi {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using spanline::testing::http_request;

const std::string kKey = "sk-fake-app-key-0123456789";

json::object post(const FakeApi& api, const std::string& target, const std::string& body, int expect = 200) {
  // Host with the port, as HTTP clients send it (the login's default api_url comes from it).
  const std::string host = api.base_url().substr(std::string_view("http://").size());
  const auto answer = http_request(api.base_url(), http::verb::post, target, body,
                                   {{"Authorization", "Bearer " + kKey}, {"Host", host}});
  EXPECT_EQ(answer.status, expect) << target << ": " << answer.body;
  return json::parse(answer.body).as_object();
}

TEST(FakeApp, LoginAnswersTheConfiguredApiUrlOrItsOwn) {
  ServerConfig config;
  config.api_key = kKey;
  FakeApi own(config);
  const auto org = post(own, "/api/apikey/login", "").at("org_info").as_array().at(0).as_object();
  EXPECT_EQ(org.at("api_url").as_string(), own.base_url());
  EXPECT_FALSE(org.at("id").as_string().empty());

  config.login_api_url = "http://127.0.0.1:9/elsewhere";
  FakeApi other(config);
  EXPECT_EQ(post(other, "/api/apikey/login", "").at("org_info").as_array().at(0).at("api_url").as_string(),
            "http://127.0.0.1:9/elsewhere");
  EXPECT_EQ(http_request(other.base_url(), http::verb::post, "/api/apikey/login", "").status, 401);
}

TEST(FakeApp, RegisterIsGetOrCreateByName) {
  ServerConfig config;
  config.api_key = kKey;
  FakeApi api(config);
  const auto project =
      post(api, "/api/project/register", R"({"project_name":"p1","org_id":"o"})").at("project");
  EXPECT_EQ(post(api, "/api/project/register", R"({"project_name":"p1"})").at("project").at("id"),
            project.at("id"));
  EXPECT_EQ(api.project_id("p1"), project.at("id").as_string());

  const auto exp = post(api, "/api/experiment/register", R"({"project_name":"p1","experiment_name":"e1"})");
  EXPECT_EQ(exp.at("project").at("id"), project.at("id"));
  EXPECT_EQ(exp.at("experiment").at("project_id"), project.at("id"));
  const std::string project_id(project.at("id").as_string());
  EXPECT_EQ(post(api, "/api/experiment/register",
                 R"({"project_id":")" + project_id + R"(","experiment_name":"e1"})")
                .at("experiment")
                .at("id"),
            exp.at("experiment").at("id"));
  const auto ds = post(api, "/api/dataset/register", R"({"project_name":"p1","dataset_name":"d1"})");
  EXPECT_NE(ds.at("dataset").at("id"), exp.at("experiment").at("id"));
  post(api, "/api/experiment/register", R"({"project_id":"no-such-project"})", 400);
  post(api, "/api/nothing/register", "{}", 404);
}

TEST(FakeApp, Logs3RowsAreStoredUnderTheirObjects) {
  ServerConfig config;
  config.api_key = kKey;
  FakeApi api(config);
  post(
      api, "/logs3",
      R"({"rows":[{"id":"a","project_id":"p","log_id":"g","input":1},{"id":"b","experiment_id":"e","input":2},)"
      R"({"id":"a","project_id":"p","log_id":"g","_is_merge":true,"output":3}],"api_version":2})");
  const auto a = api.row("project_logs", "p", "a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->at("input").as_int64(), 1);
  EXPECT_EQ(a->at("output").as_int64(), 3);
  EXPECT_FALSE(a->contains("project_id"));
  EXPECT_TRUE(api.row("experiment", "e", "b"));
  post(api, "/logs3", R"({"rows":[{"id":"x","project_id":"p"}]})", 400);
}

}  // namespace
}  // namespace spanline::fakeapi
