#include "produce/row_builder.hpp"

#include "core/ids.hpp"
#include "support/openapi_schema.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <regex>

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
  const auto start =
      parse(builder.span_start(0, root, nullptr, {.name = "chat", .type = "llm"}, sample_fields(), kNow));
  EXPECT_EQ(start.at("id").as_string(), root.id.view());
  EXPECT_EQ(start.at("span_id").as_string(), root.span_id.view());
  EXPECT_EQ(start.at("root_span_id").as_string(), root.span_id.view());
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
  EXPECT_EQ(child_start.at("span_parents").as_array().at(0).as_string(), root.span_id.view());
  EXPECT_EQ(child_start.at("root_span_id").as_string(), root.span_id.view());

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

// A span's ids live inline in the Span: every id format must fit, and nothing longer
// may be cut short silently.
TEST(RowBuilder, GeneratedIdsHoldEveryFormatAndRefuseLongerText) {
  for (const IdFormat format : {IdFormat::uuid, IdFormat::otel_hex}) {
    const RowBuilder builder(format);
    const SpanIdentity root = builder.span_identity(nullptr);
    const SpanIdentity child = builder.span_identity(&root);
    EXPECT_EQ(child.root_span_id, root.span_id);
    EXPECT_NE(child.span_id, root.span_id);
    EXPECT_EQ(child.id.view().find_first_not_of("0123456789abcdef-"), std::string_view::npos) << child.id.view();
  }
  const std::string uuid = "0b9e6f1c-3c1e-4c9a-9d43-6b1f1f2a7e55";
  EXPECT_EQ(GeneratedId(uuid).view(), uuid);
  EXPECT_EQ(GeneratedId().view(), "");
  EXPECT_THROW(GeneratedId(uuid + "0"), std::length_error);
}

std::vector<Row> every_row_shape() {
  const RowBuilder builder(IdFormat::uuid);
  const SpanIdentity root = builder.span_identity(nullptr);
  const SpanIdentity child = builder.span_identity(&root);
  return {
      builder.event(0, sample_fields(), {}),
      builder.event(0, Fields{}, "given-id"),
      builder.merge(0, root.id, sample_fields()),
      builder.deletion(0, root.id),
      builder.span_start(0, root, nullptr, {.name = "root", .type = "task"}, sample_fields(), kNow),
      builder.span_start(0, child, &root, {.name = "child", .type = "tool"}, Fields{}, kNow),
      builder.span_end(0, child.id, Fields{}.scores({{"quality", 0.25}}), kNow),
  };
}

void expect_rows_conform(const testing::OpenApiSpec& spec, std::string_view schema_name) {
  const auto& schema = spec.schema(schema_name);
  for (const Row& row : every_row_shape()) {
    const auto problems = spec.validate(boost::json::parse(row.json), schema);
    EXPECT_TRUE(problems.empty()) << row.json
                                  << "\n first problem: " << (problems.empty() ? "" : problems.front());
  }
  // The validator itself must catch a bad row, or this test proves nothing.
  EXPECT_FALSE(spec.validate(boost::json::parse(R"({"tags":"not-an-array"})"), schema).empty());
  EXPECT_FALSE(spec.validate(boost::json::parse(R"({"scores":{"x":2}})"), schema).empty());
  EXPECT_FALSE(spec.validate(boost::json::parse(R"({"metrics":{"tokens":"many"}})"), schema).empty());
}

TEST(RowBuilder, EveryRowShapeConformsToTheInsertContract) {
  const auto contract = testing::OpenApiSpec::load(testing::contract_path());
  ASSERT_TRUE(contract) << "missing " << testing::contract_path();
  expect_rows_conform(*contract, "ProjectLogsEvent");
  expect_rows_conform(*contract, "ExperimentEvent");
}

TEST(RowBuilder, EveryRowShapeConformsToTheOfficialOpenApiSpec) {
  const auto spec = testing::OpenApiSpec::load(testing::official_spec_path());
  if (!spec) GTEST_SKIP() << "no official OpenAPI spec at " << testing::official_spec_path() << " (optional extra check)";
  expect_rows_conform(*spec, "InsertProjectLogsEvent");
  expect_rows_conform(*spec, "InsertExperimentEvent");
}

// The exact text of each row kind, with fixed ids and times: the row's shape and
// member order are what the batcher, the fake API and Braintrust have always seen.
TEST(RowBuilder, ExactTextOfSpanRows) {
  const RowBuilder builder(IdFormat::uuid);
  const SpanIdentity root{.id = GeneratedId("r-id"), .span_id = GeneratedId("r-span"), .root_span_id = GeneratedId("r-span")};
  const SpanIdentity child{.id = GeneratedId("c-id"), .span_id = GeneratedId("c-span"), .root_span_id = GeneratedId("r-span")};
  const auto at = kNow + std::chrono::microseconds(123'450);
  Fields fields;
  fields.string("input", "hi").metrics({{"tokens", 3}});

  EXPECT_EQ(
      builder.span_start(0, root, nullptr, {.name = "chat", .type = "llm"}, fields, at).json,
      R"({"id":"r-id","span_id":"r-span","root_span_id":"r-span","created":"2023-11-14T22:13:20.123450Z",)"
      R"("span_attributes":{"name":"chat","type":"llm"},"input":"hi","metrics":{"start":1700000000.12345,"tokens":3},)"
      R"("_is_merge":false})");
  EXPECT_EQ(builder.span_start(0, child, &root, {.name = "say \"x\""}, Fields{}, kNow).json,
            R"({"id":"c-id","span_id":"c-span","root_span_id":"r-span","span_parents":["r-span"],)"
            R"("created":"2023-11-14T22:13:20.000000Z","span_attributes":{"name":"say \"x\""},)"
            R"("metrics":{"start":1.7e+09},"_is_merge":false})");
  EXPECT_EQ(
      builder.span_start(0, root, nullptr, {}, Fields{}, kNow).json,
      R"({"id":"r-id","span_id":"r-span","root_span_id":"r-span","created":"2023-11-14T22:13:20.000000Z",)"
      R"("span_attributes":{"name":"span"},"metrics":{"start":1.7e+09},"_is_merge":false})");
  EXPECT_EQ(builder.span_end(0, "r-id", fields, at).json,
            R"({"id":"r-id","input":"hi","metrics":{"end":1700000000.12345,"tokens":3},"_is_merge":true})");
  EXPECT_EQ(builder.span_end(0, "r-id", Fields{}, at).json,
            R"({"id":"r-id","metrics":{"end":1700000000.12345},"_is_merge":true})");
}

TEST(RowBuilder, ExactTextOfEventMergeAndDeleteRows) {
  const RowBuilder builder(IdFormat::uuid);
  Fields fields;
  fields.string("input", "hi").metrics({{"tokens", 3}});
  EXPECT_EQ(builder.merge(0, "m", fields).json,
            R"({"id":"m","input":"hi","metrics":{"tokens":3},"_is_merge":true})");
  EXPECT_EQ(builder.merge(0, "m", Fields{}).json, R"({"id":"m","_is_merge":true})");
  EXPECT_EQ(builder.deletion(0, "tab\there").json, R"({"id":"tab\there","_object_delete":true})");

  // Events carry a fresh id (or the given one) and the time: check around those.
  const std::regex event_shape(
      R"re(^\{"id":"([0-9a-f-]{36})","input":"hi","metrics":\{"tokens":3\},"created":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"\}$)re");
  EXPECT_TRUE(std::regex_match(builder.event(0, fields, {}).json, event_shape))
      << builder.event(0, fields, {}).json;
  const std::regex bare_event(R"re(^\{"id":"given","created":"[^"]{27}"\}$)re");
  EXPECT_TRUE(std::regex_match(builder.event(0, Fields{}, "given").json, bare_event));
}

// Given ids are user text: escaped where needed, left alone (no copy) where not.
TEST(RowBuilder, GivenIdsOfEveryKindAreEscapedAndLocated) {
  const RowBuilder builder(IdFormat::uuid);
  for (const std::string_view id :
       {std::string_view("plain-id_1"), std::string_view("quote\"d"), std::string_view("back\\slash"),
        std::string_view("tab\t"), std::string_view("caf\xC3\xA9"),
        std::string_view("bad\xFF"
                         "byte")}) {
    for (const Row& row : {builder.event(0, Fields{}.string("a", "b"), id), builder.merge(0, id, Fields{}),
                           builder.deletion(0, id)}) {
      expect_id_located(row);
      const auto parsed = parse(row).at("id").as_string();
      if (id != std::string_view("bad\xFF"
                                 "byte"))
        EXPECT_EQ(std::string_view(parsed), id);
      else
        EXPECT_EQ(std::string_view(parsed),
                  "bad\xEF\xBF\xBD"
                  "byte");  // replaced, as any string
    }
  }
}

// A draft knows its row's exact size before the row is written: the logger charges the
// budget with it. And a row is written into one allocation of that size: no regrowth,
// no slack.
TEST(RowBuilder, DraftsKnowTheExactSizeAndRowsAreAllocatedOnce) {
  for (const IdFormat format : {IdFormat::uuid, IdFormat::otel_hex}) {
    const RowBuilder builder(format);
    const SpanIdentity root = builder.span_identity(nullptr);
    const SpanIdentity child = builder.span_identity(&root);
    const Fields sample = sample_fields();
    const Fields metrics_only = Fields{}.metrics({{"t", 1}});
    const Fields pair = Fields{}.string("x", "y");
    const Fields score = Fields{}.scores({{"quality", 0.25}});
    const Fields none;
    const std::vector<RowDraft> drafts = [&] {
      std::vector<RowDraft> d;
      d.push_back(builder.draft_event(0, sample, {}));
      d.push_back(builder.draft_event(0, none, {}));
      d.push_back(builder.draft_event(0, metrics_only, {}));
      d.push_back(builder.draft_event(0, sample, "given \"id\" \xC3\xA9"));
      d.push_back(builder.draft_merge(0, root.id, sample));
      d.push_back(builder.draft_merge(0, "needs \\ escaping", pair));
      d.push_back(builder.draft_deletion(0, "some-row-id-that-is-long"));
      d.push_back(builder.draft_span_start(0, root, nullptr, {.name = "root", .type = "task"}, sample, kNow));
      d.push_back(builder.draft_span_start(0, child, &root, {.name = "ch\"ild"}, none,
                                           kNow + std::chrono::microseconds(5)));
      d.push_back(builder.draft_span_end(0, child.id, score, kNow + std::chrono::microseconds(7)));
      d.push_back(builder.draft_span_end(0, child.id, none, kNow));
      return d;
    }();
    for (const RowDraft& draft : drafts) {
      const Row row = draft.write();
      EXPECT_EQ(row.json.size(), draft.json_size()) << row.json;
      EXPECT_EQ(row.budget_bytes(), draft.budget_bytes());
      EXPECT_EQ(row.json.capacity(), row.json.size()) << row.json;
      EXPECT_NO_THROW((void)boost::json::parse(row.json)) << row.json;
    }
  }
}

TEST(RowBuilder, EventsAreStampedWithTheCurrentTime) {
  const RowBuilder builder(IdFormat::uuid);
  const auto before = std::chrono::system_clock::now();
  const Row row = builder.event(0, Fields{}, {});
  const auto after = std::chrono::system_clock::now();
  std::string low, high;
  append_iso8601(low, before - std::chrono::milliseconds(1));
  append_iso8601(high, after + std::chrono::milliseconds(1));
  const std::string created(parse(row).at("created").as_string());
  EXPECT_LE(low, created);  // ISO-8601 with fixed widths sorts as text
  EXPECT_LE(created, high);
}

}  // namespace
}  // namespace spanline::detail
