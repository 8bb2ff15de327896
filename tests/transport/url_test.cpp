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
  for (const char* bad : {"", "api.braintrust.dev", "ftp://example.com", "https://", "http://:80",
                          "http://example.com:0", "http://example.com:70000", "http://example.com:12ab",
                          "https://example.com/?x=1", "https://example.com/#frag", "not a url"}) {
    try {
      (void)parse_base_url(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos) << e.what();
    }
  }
}

TEST(UrlTest, CredentialsAreRefusedAndNeverShown) {
  for (const char* url : {"https://user:s3cr3t-pw@example.com", "http://s3cr3t-pw@127.0.0.1:8080/bt",
                          "https://a@b:s3cr3t-pw@example.com/x"}) {
    EXPECT_TRUE(url_has_credentials(url)) << url;
    try {
      (void)parse_base_url(url);
      ADD_FAILURE() << "accepted: " << url;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cr3t-pw"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("<redacted>@"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(redact_url("https://user:pw@example.com:8443/bt"), "https://<redacted>@example.com:8443/bt");
  // An '@' after the authority is not user info.
  EXPECT_FALSE(url_has_credentials("https://example.com/a@b"));
  EXPECT_EQ(redact_url("https://example.com/a@b"), "https://example.com/a@b");
  EXPECT_FALSE(url_has_credentials("not a url"));
}

// Found by fuzzing (tests/fuzz/corpus/base_url/regression-*): a percent-encoded host
// decoded to bytes that would have gone into the Host header raw.
TEST(UrlTest, RejectsHostsThatDecodeToCharactersNoHostNameHas) {
  for (const char* bad :
       {"http://ex%20le.com", "https://a%0d%0aX-Injected:%201.example", "http://a%2fb.example",
        "http://a%40b.example", "http://a%00b", "https://caf%c3%a9.example"}) {
    EXPECT_THROW((void)parse_base_url(bad), std::invalid_argument) << bad;
  }
  EXPECT_EQ(parse_base_url("http://ex%41mple.com").host, "exAmple.com");
  EXPECT_EQ(parse_base_url("https://my_host-1.example:8443").host, "my_host-1.example");
}

}  // namespace
}  // namespace spanline::detail
