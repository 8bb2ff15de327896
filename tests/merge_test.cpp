#include "batch/merge.hpp"

#include "merge_cases.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <set>
#include <string>

namespace spanline::detail {
namespace {

namespace json = boost::json;

json::object parse_object(const std::string& text) { return json::parse(text).as_object(); }

class MergeCases : public ::testing::TestWithParam<test::MergeCase> {};

TEST_P(MergeCases, CombinesAsBraintrustDoes) {
  const auto& c = GetParam();
  json::object earlier = parse_object(c.earlier);
  const json::object later = parse_object(c.later);
  const json::object later_copy = later;
  combine_rows(earlier, later);
  const json::value expected = json::parse(c.expected);
  EXPECT_EQ(json::value(earlier), expected) << "got      " << json::serialize(earlier) << "\n"
                                            << "expected " << c.expected;
  EXPECT_EQ(later, later_copy) << "combine_rows must not touch the later row";
}

INSTANTIATE_TEST_SUITE_P(Merge, MergeCases, ::testing::ValuesIn(test::merge_cases()),
                         [](const ::testing::TestParamInfo<test::MergeCase>& info) {
                           return info.param.name;
                         });

TEST(Merge, CaseTableIsWellFormed) {
  std::set<std::string> names;
  ASSERT_GE(test::merge_cases().size(), 20u);
  for (const auto& c : test::merge_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
    const json::object earlier = parse_object(c.earlier);
    const json::object later = parse_object(c.later);
    const json::object expected = parse_object(c.expected);
    // Every case is about one id, as the batcher and the fake API will use it.
    ASSERT_TRUE(earlier.contains("id")) << c.name;
    EXPECT_EQ(earlier.at("id"), later.at("id")) << c.name;
    EXPECT_EQ(earlier.at("id"), expected.at("id")) << c.name;
  }
}

TEST(Merge, SpanLifecycleCombinesIntoOneRow) {
  // start (full row), log (merge), end (merge), as the SDKs write them.
  json::object row = parse_object(
      R"({"id":"r","span_id":"s","root_span_id":"s","created":"2024-05-01T10:00:00Z",)"
      R"("span_attributes":{"name":"llm","type":"llm"},"metrics":{"start":10.0},"_is_merge":false})");
  combine_rows(row, parse_object(R"({"id":"r","_is_merge":true,"input":[{"role":"user","content":"hi"}],)"
                                 R"("output":"hello","scores":{"f":1},"tags":["a"]})"));
  combine_rows(row, parse_object(R"({"id":"r","_is_merge":true,"metrics":{"end":11.5},"tags":["b","a"],)"
                                 R"("created":"2024-05-01T10:00:02Z"})"));
  const json::value expected = json::parse(
      R"({"id":"r","span_id":"s","root_span_id":"s","created":"2024-05-01T10:00:00Z",)"
      R"("span_attributes":{"name":"llm","type":"llm"},"metrics":{"start":10.0,"end":11.5},"_is_merge":false,)"
      R"("input":[{"role":"user","content":"hi"}],"output":"hello","scores":{"f":1},"tags":["a","b"]})");
  EXPECT_EQ(json::value(row), expected) << json::serialize(row);
}

TEST(Merge, DeepMergeHasNoSpecialKeys) {
  json::object target = parse_object(R"({"tags":["a"],"created":"x","o":{"a":1,"n":{"b":2}},"s":1})");
  deep_merge(target, parse_object(R"({"tags":["b"],"created":"y","o":{"n":{"c":3}},"s":{"k":true}})"));
  EXPECT_EQ(json::value(target),
            json::parse(R"({"tags":["b"],"created":"y","o":{"a":1,"n":{"b":2,"c":3}},"s":{"k":true}})"))
      << json::serialize(target);
}

TEST(Merge, FlagsReadOnlyBooleanTrue) {
  EXPECT_TRUE(is_merge_row(parse_object(R"({"_is_merge":true})")));
  EXPECT_FALSE(is_merge_row(parse_object(R"({"_is_merge":false})")));
  EXPECT_FALSE(is_merge_row(parse_object(R"({"_is_merge":"true"})")));
  EXPECT_FALSE(is_merge_row(parse_object(R"({"id":"x"})")));
  EXPECT_TRUE(is_delete_row(parse_object(R"({"_object_delete":true})")));
  EXPECT_FALSE(is_delete_row(parse_object(R"({"_object_delete":false})")));
  EXPECT_FALSE(is_delete_row(parse_object(R"({"_object_delete":1})")));
}

TEST(Merge, DeleteMarkedAsMergeStillDeletes) {
  json::object row = parse_object(R"({"id":"r","_is_merge":false,"input":"i"})");
  combine_rows(row, parse_object(R"({"id":"r","_is_merge":true,"_object_delete":true})"));
  EXPECT_EQ(json::value(row), json::parse(R"({"id":"r","_is_merge":true,"_object_delete":true})"));
}

}  // namespace
}  // namespace spanline::detail
