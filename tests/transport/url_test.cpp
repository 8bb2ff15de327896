#include "transport/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace spanline::detail {
namespace {

TEST(UrlTest, HttpsDefaultsToPort443WithoutPrefix) {
  const BaseUrl url = parse_base_url("https://api.braintrust.dev");
  EXPECT_TRUE(url.tls);
  EXPECT_EQ(url.host, "api.braintrust.dev");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.prefix, "");
  EXPECT_EQ(url.host_header(), "api.braintrust.dev");
  EXPECT_EQ(url.target("/v1/project"), "/v1/project");
  EXPECT_FALSE(url.host_is_ip());
}

TEST(UrlTest, HttpDefaultsToPort80) {
  const BaseUrl url = parse_base_url("http://example.com/");
  EXPECT_FALSE(url.tls);
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.prefix, "");
  EXPECT_EQ(url.host_header(), "example.com");
}

TEST(UrlTest, ExplicitPortAppearsInHostHeader) {
  const BaseUrl url = parse_base_url("http://127.0.0.1:8080");
  EXPECT_EQ(url.host, "127.0.0.1");
  EXPECT_EQ(url.port, 8080);
  EXPECT_EQ(url.host_header(), "127.0.0.1:8080");
  EXPECT_TRUE(url.host_is_ip());
}

TEST(UrlTest, SchemeIsCaseInsensitive) {
  EXPECT_TRUE(parse_base_url("HTTPS://Example.com").tls);
  EXPECT_FALSE(parse_base_url("Http://example.com").tls);
}

TEST(UrlTest, PathPrefixIsKeptWithoutTrailingSlash) {
  const BaseUrl url = parse_base_url("https://bt.internal:8443/api/bt/");
  EXPECT_EQ(url.prefix, "/api/bt");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.target("/v1/project_logs/abc/insert"), "/api/bt/v1/project_logs/abc/insert");
  EXPECT_EQ(url.target("version"), "/api/bt/version");
}

TEST(UrlTest, Ipv6HostLosesBracketsButHostHeaderKeepsThem) {
  const BaseUrl url = parse_base_url("http://[::1]:9000/x");
  EXPECT_EQ(url.host, "::1");
  EXPECT_TRUE(url.host_is_ip());
  EXPECT_EQ(url.host_header(), "[::1]:9000");
  EXPECT_EQ(url.prefix, "/x");
}

TEST(UrlTest, RejectsBadUrlsNamingTheValue) {
  for (const char* bad :
       {"", "api.braintrust.dev", "ftp://example.com", "https://", "http://:80", "http://example.com:0",
        "http://example.com:70000", "http://example.com:12ab", "https://user:pw@example.com",
        "https://example.com/?x=1", "https://example.com/#frag", "not a url"}) {
    try {
      (void)parse_base_url(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace spanline::detail
