#include <spanline/fields.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <stdexcept>

namespace spanline {
namespace {

boost::json::object as_object(const Fields& fields) {
  return boost::json::parse("{" + fields.body() + "}").as_object();
}

TEST(Fields, EscapesStringsToValidJson) {
  Fields f;
  const std::string tricky = "quote \" backslash \\ newline \n tab \t bell \x07 and a long tail of plain text";
  f.string("input", tricky);
  EXPECT_EQ(as_object(f).at("input").as_string(), tricky);
}

TEST(Fields, ReplacesInvalidUtf8InsteadOfEmittingIt) {
  Fields f;
  f.string("output", std::string("ok \xC3\xA9 bad \xFF\xFE end"));
  const std::string value(as_object(f).at("output").as_string());
  EXPECT_EQ(value, "ok \xC3\xA9 bad \xEF\xBF\xBD\xEF\xBF\xBD end");
}

// Short strings take an ASCII fast path (word at a time, then a byte tail); a byte
// >= 0x80 anywhere in any length must still send them through UTF-8 validation.
TEST(Fields, InvalidOrNonAsciiBytesAreFoundAtEveryPositionAndLength) {
  for (std::size_t length = 1; length <= 80; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      std::string bad(length, 'a');
      bad[at] = '\xFF';
      std::string out;
      detail::append_json_string(out, bad);
      const std::string expected = "\"" + std::string(at, 'a') + "\xEF\xBF\xBD" + std::string(length - at - 1, 'a') + "\"";
      ASSERT_EQ(out, expected) << "length " << length << ", bad byte at " << at;

      std::string accented(length, 'a');
      accented.replace(at, 1, "\xC3\xA9");
      out.clear();
      detail::append_json_string(out, accented);
      ASSERT_EQ(out, "\"" + accented + "\"") << "length " << length << ", e-acute at " << at;
    }
  }
}

TEST(Fields, NumbersRoundTripAndNonFiniteBecomesNull) {
  Fields f;
  f.number("pi", 3.141592653589793).number("nan", std::nan("")).integer("big", 9007199254740993LL).boolean("ok", true).null("none");
  const auto o = as_object(f);
  EXPECT_DOUBLE_EQ(o.at("pi").as_double(), 3.141592653589793);
  EXPECT_TRUE(o.at("nan").is_null());
  EXPECT_EQ(o.at("big").as_int64(), 9007199254740993LL);
  EXPECT_TRUE(o.at("ok").as_bool());
  EXPECT_TRUE(o.at("none").is_null());
}

TEST(Fields, JsonIsValidatedAndCompacted) {
  Fields f;
  f.json("output", R"(  { "a" : [1, 2, {"b": null}] }  )");
  EXPECT_EQ(f.body(), R"("output":{"a":[1,2,{"b":null}]})");
  EXPECT_THROW(f.json("bad", "{not json"), std::invalid_argument);
}

TEST(Fields, BraintrustShapes) {
  Fields f;
  f.scores({{"accuracy", 0.5}, {"relevance", 1.0}}).metadata({{"model", "gpt"}}).tags({"a", "b"});
  f.metrics({{"tokens", 12}});
  const auto o = as_object(f);
  EXPECT_DOUBLE_EQ(o.at("scores").at("accuracy").as_double(), 0.5);
  EXPECT_EQ(o.at("metadata").at("model").as_string(), "gpt");
  EXPECT_EQ(o.at("tags").as_array().size(), 2u);
  EXPECT_EQ(f.metrics_body(), R"("tokens":12)");
  EXPECT_THROW(f.scores({{"bad", 1.5}}), std::invalid_argument);
  EXPECT_THROW(f.metric("start", 1), std::invalid_argument);
}

TEST(Fields, RefusesKeysTheLoggerWrites) {
  Fields f;
  for (const char* key : {"id", "span_id", "root_span_id", "span_parents", "created", "_is_merge", "metrics"}) {
    EXPECT_THROW(f.string(key, "x"), std::invalid_argument) << key;
  }
  EXPECT_THROW(f.string("", "x"), std::invalid_argument);
  EXPECT_TRUE(f.empty());
}

TEST(Fields, NestedObjects) {
  Fields inner;
  inner.string("role", "user").integer("turn", 3);
  Fields outer;
  outer.object("input", inner);
  EXPECT_EQ(as_object(outer).at("input").at("turn").as_int64(), 3);
}

}  // namespace
}  // namespace spanline
