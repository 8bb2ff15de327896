#include <spanline/options.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace spanline {
namespace {

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Options, DefaultsAreValid) { EXPECT_NO_THROW(validate(Options{})); }

TEST(Options, SetOptionParsesEveryKind) {
  Options o;
  set_option(o, "queue.max_bytes", "32MiB");
  set_option(o, "queue.overflow", "drop_oldest");
  set_option(o, "batch.linger_ms", "5");
  set_option(o, "batch.compression", "gzip");
  set_option(o, "http.tls_verify", "false");
  set_option(o, "ids.format", "otel_hex");
  set_option(o, "api.url", "http://127.0.0.1:8080/prefix");
  EXPECT_EQ(o.max_queue_bytes, std::size_t{32} << 20);
  EXPECT_EQ(o.overflow, OverflowPolicy::drop_oldest);
  EXPECT_EQ(o.linger, std::chrono::milliseconds(5));
  EXPECT_EQ(o.compression, Compression::gzip);
  EXPECT_FALSE(o.tls_verify);
  EXPECT_EQ(o.id_format, IdFormat::otel_hex);
  EXPECT_EQ(o.api_url, "http://127.0.0.1:8080/prefix");
}

TEST(Options, BadValuesNameTheSettingAndTheValue) {
  Options o;
  const std::string size_error = error_of([&] { set_option(o, "queue.max_bytes", "lots"); });
  EXPECT_NE(size_error.find("queue.max_bytes"), std::string::npos) << size_error;
  EXPECT_NE(size_error.find("lots"), std::string::npos) << size_error;
  const std::string policy_error = error_of([&] { set_option(o, "queue.overflow", "explode"); });
  EXPECT_NE(policy_error.find("block, drop_newest, drop_oldest"), std::string::npos) << policy_error;
  EXPECT_NE(error_of([&] { set_option(o, "no.such", "1"); }).find("unknown setting 'no.such'"), std::string::npos);
  EXPECT_NE(error_of([&] { set_option(o, "http.tls_verify", "maybe"); }).find("true or false"), std::string::npos);
  EXPECT_NE(error_of([&] { set_option(o, "batch.max_rows", "-3"); }).find("batch.max_rows"), std::string::npos);
}

TEST(Options, ValidateExplainsTheLimit) {
  const std::string error = error_of([] { validate(Options{.batch_max_bytes = 12}); });
  EXPECT_EQ(error, "batch.max_bytes must be >= 1 KiB, got 12");
  EXPECT_NE(error_of([] { validate(Options{.api_url = "ftp://x"}); }).find("api.url"), std::string::npos);
  EXPECT_NE(error_of([] { validate(Options{.max_in_flight = 0}); }).find("http.max_in_flight"), std::string::npos);
  EXPECT_NE(error_of([] { validate(Options{.max_in_flight = 2, .initial_in_flight = 4}); }).find("initial_in_flight"),
            std::string::npos);
}

TEST(Options, DescribeRedactsTheKey) {
  Options o{.api_key = "sk-very-secret"};
  bool saw_key = false;
  for (const auto& [name, value] : describe(o)) {
    EXPECT_EQ(value.find("sk-very-secret"), std::string::npos) << name;
    if (name == "api.key") {
      saw_key = true;
      EXPECT_EQ(value, "<redacted>");
    }
  }
  EXPECT_TRUE(saw_key);
  EXPECT_EQ(describe(o).size(), option_names().size());
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(Options, FromEnvReadsBraintrustAndSpanlineVariables) {
  ScopedEnv key("BRAINTRUST_API_KEY", "sk-env");
  ScopedEnv url("BRAINTRUST_API_URL", "http://127.0.0.1:1234");
  ScopedEnv rows("SPANLINE_BATCH_MAX_ROWS", "77");
  ScopedEnv overflow("SPANLINE_QUEUE_OVERFLOW", "drop_newest");
  const Options o = options_from_env(Options{.batch_max_rows = 5});
  EXPECT_EQ(o.api_key, "sk-env");
  EXPECT_EQ(o.api_url, "http://127.0.0.1:1234");
  EXPECT_EQ(o.batch_max_rows, 77u);
  EXPECT_EQ(o.overflow, OverflowPolicy::drop_newest);
}

TEST(Options, FromEnvErrorNamesTheVariable) {
  ScopedEnv bad("SPANLINE_BATCH_LINGER_MS", "soon");
  const std::string error = error_of([] { (void)options_from_env(); });
  EXPECT_NE(error.find("SPANLINE_BATCH_LINGER_MS"), std::string::npos) << error;
  EXPECT_NE(error.find("soon"), std::string::npos) << error;
}

}  // namespace
}  // namespace spanline
