#include "ingest_auth.hpp"

#include "agent/daemon_process.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include <fstream>

namespace spanline::agent {
namespace {

namespace http = boost::beast::http;

const std::string kKey = "sk-auth-unit-key-0123456789";
const std::string kToken = "ingest-token-abcdefghijklmnop";

HttpRequest request(std::string_view authorization, std::string_view origin = {}) {
  HttpRequest r{http::verb::post, "/v1/project_logs/p/insert", 11};
  if (!authorization.empty()) r.set(http::field::authorization, authorization);
  if (!origin.empty()) r.set(http::field::origin, origin);
  r.set(http::field::content_type, "application/json");
  return r;
}

std::string reason_of(const IngestAuth::Refused& refused) {
  return std::string(boost::json::parse(refused.body).at("error").at("reason").as_string());
}

TEST(IngestAuth, AcceptsTheApiKeyOrAnIngestTokenAsBearer) {
  const IngestAuth auth({kKey, kToken}, {});
  EXPECT_TRUE(auth.requires_token());
  EXPECT_FALSE(auth.check(request("Bearer " + kKey)));
  EXPECT_FALSE(auth.check(request("Bearer " + kToken)));
  EXPECT_FALSE(auth.check(request("bearer   " + kToken + "  "))) << "scheme is case-insensitive (RFC 9110)";
}

TEST(IngestAuth, RefusesMissingOrWrongCredentialsWith401) {
  const IngestAuth auth({kKey, kToken}, {});
  for (const std::string& header :
       {std::string(), std::string("Bearer"), std::string("Bearer "), "Basic " + kKey, kKey}) {
    const auto refused = auth.check(request(header));
    ASSERT_TRUE(refused) << header;
    EXPECT_EQ(refused->status, 401u);
    EXPECT_EQ(refused->reason, AuthRefusal::missing_credentials) << header;
    EXPECT_EQ(reason_of(*refused), "missing_credentials");
  }
  for (const std::string& token :
       {kKey + "x", kKey.substr(0, kKey.size() - 1), std::string("x"), kToken.substr(1)}) {
    const auto refused = auth.check(request("Bearer " + token));
    ASSERT_TRUE(refused) << token;
    EXPECT_EQ(refused->status, 401u);
    EXPECT_EQ(refused->reason, AuthRefusal::bad_credentials);
    EXPECT_EQ(refused->body.find(token), std::string::npos) << "the presented token is not echoed";
  }
}

TEST(IngestAuth, OriginRefusedUnlessAllowed) {
  const IngestAuth closed({kKey}, {});
  const auto refused = closed.check(request("Bearer " + kKey, "http://evil.example"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403u);
  EXPECT_EQ(refused->reason, AuthRefusal::origin_not_allowed);

  const IngestAuth open({kKey}, {"https://app.example.com"});
  EXPECT_FALSE(open.check(request("Bearer " + kKey, "https://APP.example.com")));
  ASSERT_TRUE(open.check(request("Bearer " + kKey, "https://app.example.com.evil.example")));
  // An allowed origin still needs the token.
  const auto no_token = open.check(request("", "https://app.example.com"));
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401u);
}

TEST(IngestAuth, PreflightAndCorsHeadersOnlyForAllowedOrigins) {
  const IngestAuth auth({kKey}, {"https://app.example.com"});
  HttpRequest preflight{http::verb::options, "/logs3", 11};
  preflight.set(http::field::origin, "https://app.example.com");
  preflight.set(http::field::access_control_request_method, "POST");
  const auto answer = auth.preflight(preflight);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->result_int(), 204u);
  EXPECT_EQ((*answer)[http::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_NE((*answer)[http::field::access_control_allow_headers].find("authorization"), std::string::npos);

  preflight.set(http::field::origin, "http://evil.example");
  EXPECT_FALSE(auth.preflight(preflight));
  HttpResponse response;
  auth.add_cors_headers("http://evil.example", response);
  EXPECT_TRUE(response[http::field::access_control_allow_origin].empty());
}

TEST(IngestAuth, InsertBodiesMustBeJson) {
  HttpRequest r = request("Bearer " + kKey);
  EXPECT_FALSE(IngestAuth::check_json_content_type(r));
  r.set(http::field::content_type, "application/json; charset=utf-8");
  EXPECT_FALSE(IngestAuth::check_json_content_type(r));
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "", "application/jsonx"}) {
    r.set(http::field::content_type, type);
    const auto refused = IngestAuth::check_json_content_type(r);
    ASSERT_TRUE(refused) << type;
    EXPECT_EQ(refused->status, 415u);
    EXPECT_EQ(refused->reason, AuthRefusal::bad_content_type);
  }
}

TEST(IngestAuth, WithoutAnyTokenNoCredentialIsRequired) {
  const IngestAuth auth({"", ""}, {});
  EXPECT_FALSE(auth.requires_token());
  EXPECT_FALSE(auth.check(request("")));
  EXPECT_TRUE(auth.check(request("", "http://evil.example"))) << "browsers are still refused";
}

TEST(IngestAuth, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("xbc", "abc"));
}

TEST(IngestAuth, TokenFileAndConfig) {
  spanline::testing::TempDir dir;
  const std::string path = dir.file("tokens");
  std::ofstream(path) << "# ingest tokens\n\n  " << kToken << "  \nsecond-token-0123456789\n";
  EXPECT_EQ(read_token_file(path), (std::vector<std::string>{kToken, "second-token-0123456789"}));
  std::ofstream(dir.file("empty")) << "# nothing\n";
  EXPECT_THROW(read_token_file(dir.file("empty")), std::invalid_argument);
  EXPECT_THROW(read_token_file(dir.file("missing")), std::invalid_argument);

  DaemonConfig config;
  config.library.api_key = kKey;
  config.ingest.tokens = {"from-setting-0123456789"};
  config.ingest.token_file = path;
  const IngestAuth auth = IngestAuth::from_config(config);
  for (const std::string& token :
       {kKey, kToken, std::string("second-token-0123456789"), std::string("from-setting-0123456789")}) {
    EXPECT_FALSE(auth.check(request("Bearer " + token))) << token;
  }
}

TEST(IngestAuth, ListenerExposure) {
  EXPECT_TRUE(is_loopback({"127.0.0.1", 1}));
  EXPECT_TRUE(is_loopback({"127.8.9.10", 1}));
  EXPECT_TRUE(is_loopback({"::1", 1}));
  EXPECT_FALSE(is_loopback({"0.0.0.0", 1}));
  EXPECT_FALSE(is_loopback({"::", 1}));
  EXPECT_FALSE(is_loopback({"10.1.2.3", 1}));

  DaemonConfig config;
  config.ingest.http = {"0.0.0.0", 0};
  EXPECT_THROW(check_listener_exposure(config, IngestAuth({}, {})), std::invalid_argument)
      << "an unauthenticated HTTP ingest on the network";
  EXPECT_NO_THROW(check_listener_exposure(config, IngestAuth({kKey}, {})));
  config.ingest.tcp = {"0.0.0.0", 0};
  EXPECT_THROW(check_listener_exposure(config, IngestAuth({kKey}, {})), std::invalid_argument)
      << "the TCP NDJSON ingest has no authentication";
  config.ingest.tcp = {"127.0.0.1", 0};
  config.admin = {"0.0.0.0", 0};
  EXPECT_NO_THROW(check_listener_exposure(config, IngestAuth({kKey}, {})));
}

}  // namespace
}  // namespace spanline::agent
