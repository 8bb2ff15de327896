#include "core/row_builder.hpp"

#include "support/openapi_schema.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace spanline::detail {
namespace {

boost::json::object parse(const Row& row) { return boost::json::parse(row.json).as_object(); }

// id() is the id's text as it sits inside the JSON string, escapes included.
void expect_id_located(const Row& row) {
  const std::string quoted = boost::json::serialize(boost::json::parse(row.json).as_object().at("id"));
  EXPECT_EQ(row.id(), std::string_view(quoted).substr(1, quoted.size() - 2));
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

Fields sample_fields() {
  Fields f;
  f.string("input", "What is 2+2?").json("output", R"({"answer":4})").scores({{"correct", 1}});
  f.metadata({{"model", "gpt-4o"}}).tags({"math"}).metrics({{"prompt_tokens", 12}, {"completion_tokens", 3}});
  return f;
}

TEST(RowBuilder, EventCarriesIdCreatedAndFields) {
  const RowBuilder builder(IdFormat::uuid);
  const Row row = builder.event(3, sample_fields(), {});
  const auto o = parse(row);
  expect_id_located(row);
  EXPECT_EQ(row.destination, 3u);
  EXPECT_FALSE(row.is_merge);
  EXPECT_EQ(o.at("id").as_string().size(), 36u);
  EXPECT_EQ(o.at("input").as_string(), "What is 2+2?");
  EXPECT_EQ(o.at("output").at("answer").as_int64(), 4);
  EXPECT_EQ(o.at("metrics").at("prompt_tokens").as_int64(), 12);
  EXPECT_TRUE(o.contains("created"));
}

TEST(RowBuilder, GivenIdsAreEscapedAndLocated) {
  const RowBuilder builder(IdFormat::uuid);
  const Row row = builder.merge(0, "user \"7\"", Fields{}.string("output", "x"));
  expect_id_located(row);
  EXPECT_TRUE(row.is_merge);
  EXPECT_EQ(parse(row).at("id").as_string(), "user \"7\"");
  EXPECT_TRUE(parse(row).at("_is_merge").as_bool());
  EXPECT_THROW((void)builder.merge(0, "", Fields{}), std::invalid_argument);
}

TEST(RowBuilder, DeletionRow) {
  const RowBuilder builder(IdFormat::uuid);
  const Row row = builder.deletion(0, "abc");
  EXPECT_EQ(row.json, R"({"id":"abc","_object_delete":true})");
  expect_id_located(row);
}

TEST(RowBuilder, SpansAreShapedLikeTheOfficialSdks) {
  const RowBuilder builder(IdFormat::uuid);
  const SpanIdentity root = builder.span_identity(nullptr);
  EXPECT_EQ(root.root_span_id, root.span_id);
  EXPECT_NE(root.id, root.span_id);
  const auto start = parse(builder.span_start(0, root, nullptr, {.name = "chat", .type = "llm"}, sample_fields(), kNow));
  EXPECT_EQ(start.at("id").as_string(), root.id);
  EXPECT_EQ(start.at("span_id").as_string(), root.span_id);
  EXPECT_EQ(start.at("root_span_id").as_string(), root.span_id);
  EXPECT_FALSE(start.contains("span_parents"));
  EXPECT_EQ(start.at("created").as_string(), "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(start.at("span_attributes").at("name").as_string(), "chat");
  EXPECT_EQ(start.at("span_attributes").at("type").as_string(), "llm");
  EXPECT_DOUBLE_EQ(start.at("metrics").at("start").to_number<double>(), 1'700'000'000.0);
  EXPECT_EQ(start.at("metrics").at("prompt_tokens").as_int64(), 12);
  EXPECT_FALSE(start.at("_is_merge").as_bool());

  const SpanIdentity child = builder.span_identity(&root);
  EXPECT_EQ(child.root_span_id, root.span_id);
  const auto child_start = parse(builder.span_start(0, child, &root, {.name = "tool"}, Fields{}, kNow));
  EXPECT_EQ(child_start.at("span_parents").as_array().at(0).as_string(), root.span_id);
  EXPECT_EQ(child_start.at("root_span_id").as_string(), root.span_id);

  const Row end = builder.span_end(0, root.id, Fields{}, kNow + std::chrono::seconds(2));
  expect_id_located(end);
  EXPECT_TRUE(end.is_merge);
  EXPECT_DOUBLE_EQ(parse(end).at("metrics").at("end").to_number<double>(), 1'700'000'002.0);
  EXPECT_TRUE(parse(end).at("_is_merge").as_bool());
}

TEST(RowBuilder, OtelHexIds) {
  const RowBuilder builder(IdFormat::otel_hex);
  const SpanIdentity span = builder.span_identity(nullptr);
  EXPECT_EQ(span.id.size(), 32u);
  EXPECT_EQ(span.span_id.size(), 16u);
}

TEST(RowBuilder, EveryRowShapeConformsToTheOpenApiSpec) {
  const auto spec = testing::OpenApiSpec::load(testing::spec_path());
  if (!spec) GTEST_SKIP() << "no OpenAPI spec at " << testing::spec_path() << "; skipping the schema check";
  const auto& schema = spec->schema("InsertProjectLogsEvent");

  const RowBuilder builder(IdFormat::uuid);
  const SpanIdentity root = builder.span_identity(nullptr);
  const SpanIdentity child = builder.span_identity(&root);
  const std::vector<Row> rows = {
      builder.event(0, sample_fields(), {}),
      builder.event(0, Fields{}, "given-id"),
      builder.merge(0, root.id, sample_fields()),
      builder.deletion(0, root.id),
      builder.span_start(0, root, nullptr, {.name = "root", .type = "task"}, sample_fields(), kNow),
      builder.span_start(0, child, &root, {.name = "child", .type = "tool"}, Fields{}, kNow),
      builder.span_end(0, child.id, Fields{}.scores({{"quality", 0.25}}), kNow),
  };
  for (const Row& row : rows) {
    const auto problems = spec->validate(boost::json::parse(row.json), schema);
    EXPECT_TRUE(problems.empty()) << row.json << "\n first problem: " << (problems.empty() ? "" : problems.front());
  }
  // The validator itself must catch a bad row, or this test proves nothing.
  EXPECT_FALSE(spec->validate(boost::json::parse(R"({"tags":"not-an-array"})"), schema).empty());
  EXPECT_FALSE(spec->validate(boost::json::parse(R"({"scores":{"x":2}})"), schema).empty());
}

}  // namespace
}  // namespace spanline::detail
