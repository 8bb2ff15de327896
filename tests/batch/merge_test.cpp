#include "batch/merge.hpp"
#include "batch/text_merge.hpp"

#include "support/merge_cases.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <random>
#include <set>
#include <string>
#include <vector>

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

// ---- the text path (text_merge.hpp) -------------------------------------------------

// The tree path's answer for two rows, as a value.
json::value tree_combined(const std::string& earlier, const std::string& later) {
  json::object row = parse_object(earlier);
  combine_rows(row, parse_object(later));
  return json::value(std::move(row));
}

// Cases the text path hands to the tree path by design.
bool text_path_declines(const test::MergeCase& c) {
  return c.later.find("_merge_paths") != std::string::npos ||
         c.earlier.find("_object_delete") != std::string::npos;
}

class TextMergeCases : public ::testing::TestWithParam<test::MergeCase> {};

TEST_P(TextMergeCases, AgreesWithTheTreePath) {
  const auto& c = GetParam();
  std::string out;
  const bool handled = combine_rows_text(c.earlier, c.later, out);
  EXPECT_EQ(handled, !text_path_declines(c));
  if (!handled) return;
  EXPECT_EQ(json::parse(out), json::parse(c.expected)) << "got      " << out << "\n"
                                                       << "expected " << c.expected;
  // Same members in the same order as the tree path: the server sees the same row.
  EXPECT_EQ(json::serialize(json::parse(out)), json::serialize(tree_combined(c.earlier, c.later)));
}

INSTANTIATE_TEST_SUITE_P(TextMerge, TextMergeCases, ::testing::ValuesIn(test::merge_cases()),
                         [](const ::testing::TestParamInfo<test::MergeCase>& info) {
                           return info.param.name;
                         });

TEST(TextMerge, KeepsNumbersAsWritten) {
  std::string out;
  ASSERT_TRUE(combine_rows_text(R"({"id":"r","_is_merge":false,"metrics":{"start":1732800000.123456}})",
                                R"({"id":"r","_is_merge":true,"metrics":{"end":1732800001.5,"tokens":99}})", out));
  EXPECT_EQ(out, R"({"id":"r","_is_merge":false,"metrics":{"start":1732800000.123456,"end":1732800001.5,"tokens":99}})");
}

TEST(TextMerge, ToleratesWhitespaceAndEscapes) {
  std::string out;
  ASSERT_TRUE(combine_rows_text(" { \"id\" : \"r\" , \"input\" : \"say \\\"hi\\\" \\\\\" , \"o\" : { \"a\" : [1, {\"b\":\"}\"}] } } ",
                                R"({"id":"r","_is_merge":true,"o":{"c":"]"},"tags":["x"]})", out));
  EXPECT_EQ(json::parse(out),
            json::parse(R"({"id":"r","input":"say \"hi\" \\","o":{"a":[1,{"b":"}"}],"c":"]"},"tags":["x"]})"))
      << out;
}

TEST(TextMerge, DeclinesWhatOnlyTheTreePathKnows) {
  std::string out;
  // Keys spelled with escapes could equal plain keys once decoded.
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","\u0061":1})", R"({"id":"r","_is_merge":true,"a":2})", out));
  // Duplicate keys: which one counts is the parser's business.
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a":1,"a":2})", R"({"id":"r","_is_merge":true,"b":2})", out));
  // Tags that are not plain strings.
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","tags":["a",1]})", R"({"id":"r","_is_merge":true,"tags":["b"]})", out));
  // Not JSON objects, or cut short.
  EXPECT_FALSE(combine_rows_text(R"([1,2])", R"({"id":"r","_is_merge":true})", out));
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a":"open)", R"({"id":"r","_is_merge":true,"b":1})", out));
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a":{"b":1})", R"({"id":"r","_is_merge":true,"a":{"c":1}})", out));
}

TEST(TextMerge, KeysThatShareTheirFirstBytesStayApart) {
  // Keys are compared by their first 8 bytes first: keys of 8 bytes and more that share
  // those, keys that are prefixes of others, and short keys at the very end of a row.
  const std::string earlier =
      R"({"id":"r","metadata":{"a":1},"metadata2":{"b":1},"metadat":1,"abcdefghijkl":"x","abcdefghijkm":"y","k":{"z":0}})";
  const std::string later =
      R"({"id":"r","_is_merge":true,"metadata2":{"c":2},"abcdefghijkm":"Y","abcdefgh":8,"k":{"q":1}})";
  std::string out;
  ASSERT_TRUE(combine_rows_text(earlier, later, out));
  EXPECT_EQ(out,
            R"({"id":"r","metadata":{"a":1},"metadata2":{"b":1,"c":2},"metadat":1,"abcdefghijkl":"x",)"
            R"("abcdefghijkm":"Y","k":{"z":0,"q":1},"abcdefgh":8})");
  EXPECT_EQ(json::serialize(json::parse(out)), json::serialize(tree_combined(earlier, later)));
  // Duplicates are still found when they share a prefix with another key.
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","abcdefghi":1,"abcdefgh":2,"abcdefghi":3})",
                                 R"({"id":"r","_is_merge":true,"b":2})", out));
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a":1,"a":2})", R"({"id":"r","_is_merge":true})", out));
}

// Rows with many members: lookups first consult a word with one bit per key, and with
// this many keys most bits are shared by several, so every answer still needs the full
// compare. Updated, kept and added members must all come out as the tree path has them.
TEST(TextMerge, RowsWithManyMembersAgreeWithTheTreePath) {
  std::string earlier = R"({"id":"r")";
  std::string later = R"({"id":"r","_is_merge":true)";
  for (int i = 0; i < 40; ++i) earlier += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  for (int i = 0; i < 60; i += 3) later += ",\"k" + std::to_string(i) + "\":\"v" + std::to_string(i) + "\"";
  earlier += "}";
  later += "}";
  std::string out;
  ASSERT_TRUE(combine_rows_text(earlier, later, out));
  EXPECT_EQ(json::serialize(json::parse(out)), json::serialize(tree_combined(earlier, later)));
  const json::object row = parse_object(out);
  EXPECT_EQ(row.size(), 1u + 40u + 6u);  // id, k0..k39, and later's k42..k57
  EXPECT_EQ(row.at("k3"), "v3");
  EXPECT_EQ(row.at("k4"), 4);
  EXPECT_EQ(row.at("k57"), "v57");

  // A duplicate among many keys is still found, wherever it sits.
  std::string duplicated = R"({"id":"r")";
  for (int i = 0; i < 50; ++i) duplicated += ",\"k" + std::to_string(i) + "\":1";
  EXPECT_FALSE(combine_rows_text(duplicated + R"(,"k17":2})", later, out));
  EXPECT_FALSE(combine_rows_text(earlier, later.substr(0, later.size() - 1) + R"(,"k3":0})", out));
}

TEST(TextMerge, DeclinesEscapedKeysOfAnyLength) {
  std::string out;
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a\tb":1})", R"({"id":"r","_is_merge":true,"c":2})", out));
  EXPECT_FALSE(combine_rows_text(R"({"id":"r","a_rather_long_key_name_that_is_\u0061_escaped":1})",
                                 R"({"id":"r","_is_merge":true,"c":2})", out));
  EXPECT_FALSE(combine_rows_text(R"({"id":"r"})",
                                 R"({"id":"r","_is_merge":true,"a_rather_long_key_name_that_ends_escaped\n":2})",
                                 out));
  // The same lengths without escapes combine.
  ASSERT_TRUE(combine_rows_text(R"({"id":"r","a_rather_long_key_name_that_is_plain_too":1})",
                                R"({"id":"r","_is_merge":true,"c":2})", out));
  EXPECT_EQ(out, R"({"id":"r","a_rather_long_key_name_that_is_plain_too":1,"c":2})");
}

// Random span-shaped rows through both paths: whenever the text path answers, the
// server must see the same row as from the tree path.
TEST(TextMerge, RandomRowsAgreeWithTheTreePath) {
  std::mt19937 rng(12345);
  const std::vector<std::string> keys = {"input", "output", "metadata", "metrics", "scores", "tags",
                                         "created", "span_id", "error", "expected"};
  const std::vector<std::string> scalars = {"1", "2.5", "-3e2", "true", "false", "null", R"("s")",
                                            R"("with \"quote\"")", R"("x,}]{[")", "[1,2]", "[]"};
  const auto value = [&](const std::string& key, int depth, auto& self) -> std::string {
    if (key == "tags") {
      std::string out = "[";
      const int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) out += (i ? ",\"t" : "\"t") + std::to_string(rng() % 5) + "\"";
      return out + "]";
    }
    if (depth < 3 && rng() % 3 == 0) {
      std::string out = "{";
      std::set<std::string> used;
      const int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) {
        const std::string k = "k" + std::to_string(rng() % 4);
        if (!used.insert(k).second) continue;
        if (out.size() > 1) out += ',';
        out += "\"" + k + "\":" + self(k, depth + 1, self);
      }
      return out + "}";
    }
    return scalars[rng() % scalars.size()];
  };
  const auto row = [&](bool merge) {
    std::string out = R"({"id":"r")";
    if (rng() % 4 != 0) out += merge ? R"(,"_is_merge":true)" : R"(,"_is_merge":false)";
    std::set<std::string> used;
    const int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      const std::string& k = keys[rng() % keys.size()];
      if (!used.insert(k).second) continue;
      out += ",\"" + k + "\":" + value(k, 1, value);
    }
    return out + "}";
  };
  int handled = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string earlier = row(rng() % 3 == 0);
    const std::string later = row(rng() % 4 != 0);
    std::string out;
    if (!combine_rows_text(earlier, later, out)) continue;
    ++handled;
    ASSERT_EQ(json::serialize(json::parse(out)), json::serialize(tree_combined(earlier, later)))
        << "earlier " << earlier << "\nlater   " << later << "\ntext    " << out;
  }
  EXPECT_GT(handled, 2500);

  // Several later rows folded in one pass: the same row as applying them one at a time.
  int folded = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string earlier = row(rng() % 3 == 0);
    std::vector<std::string> later;
    const int count = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < count; ++k) later.push_back(row(rng() % 5 != 0));
    const std::vector<std::string_view> views(later.begin(), later.end());
    std::string out;
    if (!fold_rows_text(earlier, views, out)) continue;
    ++folded;
    json::object expected = parse_object(earlier);
    for (const std::string& next : later) combine_rows(expected, parse_object(next));
    ASSERT_EQ(json::serialize(json::parse(out)), json::serialize(json::value(std::move(expected))))
        << "earlier " << earlier << "\nrows    " << later.size() << "\ntext    " << out;
  }
  EXPECT_GT(folded, 1500);
}

TEST(TextMerge, FoldOfASpansRowsKeepsEveryUpdate) {
  const std::string start =
      R"({"id":"r","span_id":"s","root_span_id":"t","span_parents":[],"created":"c1","_is_merge":false,)"
      R"("input":"prompt","metrics":{"start":1.5},"span_attributes":{"name":"llm","type":"llm"},"tags":["a"]})";
  const std::vector<std::string_view> later = {
      R"({"id":"r","_is_merge":true,"output":"answer","metadata":{"model":"m"}})",
      R"({"id":"r","_is_merge":true,"scores":{"q":0.5},"tags":["b","a"],"created":"c2"})",
      R"({"id":"r","_is_merge":true,"metrics":{"end":2.5,"tokens":7},"metadata":{"cost":1}})",
  };
  std::string out;
  ASSERT_TRUE(fold_rows_text(start, later, out));
  EXPECT_EQ(out,
            R"({"id":"r","span_id":"s","root_span_id":"t","span_parents":[],"created":"c1","_is_merge":false,)"
            R"("input":"prompt","metrics":{"start":1.5,"end":2.5,"tokens":7},"span_attributes":{"name":"llm","type":"llm"},)"
            R"("tags":["a","b"],"output":"answer","metadata":{"model":"m","cost":1},"scores":{"q":0.5}})");
  // A replace in the middle wins over what came before it; later merges apply to it.
  const std::vector<std::string_view> with_replace = {later[0], R"({"id":"r","_is_merge":false,"input":"new"})", later[2]};
  ASSERT_TRUE(fold_rows_text(start, with_replace, out));
  EXPECT_EQ(out, R"({"id":"r","_is_merge":false,"input":"new","metrics":{"end":2.5,"tokens":7},"metadata":{"cost":1}})");
}

}  // namespace
}  // namespace spanline::detail
