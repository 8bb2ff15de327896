#include "otlp/otlp_mapping.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <limits>
#include <string>

namespace spanline::otlp {
namespace {

namespace json = boost::json;

const std::string kTrace("\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef", 16);
const std::string kSpan("\x11\x22\x33\x44\x55\x66\x77\x88", 8);
const std::string kParent("\xaa\xbb\xcc\xdd\xee\xff\x00\x01", 8);

Span base_span() {
  Span span;
  span.trace_id = kTrace;
  span.span_id = kSpan;
  span.name = "chat gpt-4o";
  span.start_time_unix_nano = 1'700'000'000'123'456'789u;
  span.end_time_unix_nano = 1'700'000'001'500'000'000u;
  return span;
}

KeyValue attr(std::string key, AnyValue value) { return KeyValue{std::move(key), std::move(value)}; }
KeyValue attr(std::string key, const char* text) { return attr(std::move(key), AnyValue::of_string(text)); }

json::object map(const Span& span, const Traces& traces = {}) {
  EXPECT_FALSE(validate_span(span));
  std::string out;
  map_span(traces, span, out);
  return json::parse(out).as_object();
}

json::value at(const json::object& row, std::string_view field, std::string_view key) {
  const auto* object = row.if_contains(field);
  if (object == nullptr || !object->is_object()) return nullptr;
  const auto* value = object->as_object().if_contains(key);
  return value ? *value : json::value(nullptr);
}

TEST(OtlpMapping, IdsBecomeHexSpanAndRootIdsAndTheRowIdIsDerived) {
  const json::object row = map(base_span());
  EXPECT_EQ(row.at("root_span_id"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(row.at("span_id"), "1122334455667788");
  EXPECT_EQ(row.at("id"), "0123456789abcdef0123456789abcdef-1122334455667788");
  EXPECT_FALSE(row.contains("span_parents"));  // a root
  EXPECT_EQ(map(base_span()), row);            // the same span, the same row (retries overwrite)
}

TEST(OtlpMapping, ParentSpanIdBecomesSpanParents) {
  Span span = base_span();
  span.parent_span_id = kParent;
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("span_parents")), R"(["aabbccddeeff0001"])");
  span.parent_span_id = std::string(8, '\0');  // all zero: no parent, as OTLP means it
  EXPECT_FALSE(map(span).contains("span_parents"));
}

TEST(OtlpMapping, TimesBecomeMetricsInSecondsAndCreated) {
  const json::object row = map(base_span());
  EXPECT_NEAR(at(row, "metrics", "start").as_double(), 1700000000.123456789, 1e-6);
  EXPECT_NEAR(at(row, "metrics", "end").as_double(), 1700000001.5, 1e-6);
  EXPECT_EQ(row.at("created"), "2023-11-14T22:13:20.123456Z");
  Span open = base_span();
  open.end_time_unix_nano = 0;
  EXPECT_TRUE(at(map(open), "metrics", "end").is_null());
}

TEST(OtlpMapping, NameBecomesSpanAttributesName) {
  EXPECT_EQ(at(map(base_span()), "span_attributes", "name"), "chat gpt-4o");
}

TEST(OtlpMapping, OperationNameGivesTheSpanType) {
  const std::pair<const char*, const char*> cases[] = {{"chat", "llm"},
                                                       {"text_completion", "llm"},
                                                       {"embeddings", "llm"},
                                                       {"execute_tool", "tool"},
                                                       {"invoke_agent", "task"}};
  for (const auto& [operation, type] : cases) {
    Span span = base_span();
    span.attributes.push_back(attr("gen_ai.operation.name", operation));
    const json::object row = map(span);
    EXPECT_EQ(at(row, "span_attributes", "type"), type) << operation;
    EXPECT_TRUE(at(row, "metadata", "gen_ai.operation.name").is_null()) << operation;
  }
  Span unknown = base_span();
  unknown.attributes.push_back(attr("gen_ai.operation.name", "dance"));
  const json::object row = map(unknown);
  EXPECT_TRUE(at(row, "span_attributes", "type").is_null());
  EXPECT_EQ(at(row, "metadata", "gen_ai.operation.name"), "dance");
}

TEST(OtlpMapping, InputMessagesJsonStringIsParsed) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.input.messages", R"([{"role":"user","content":"hi"}])"));
  span.attributes.push_back(attr("gen_ai.output.messages", R"([{"role":"assistant","content":"yo"}])"));
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("input")), R"([{"role":"user","content":"hi"}])");
  EXPECT_EQ(json::serialize(row.at("output")), R"([{"role":"assistant","content":"yo"}])");
  EXPECT_FALSE(row.contains("metadata"));  // the attributes were consumed
}

TEST(OtlpMapping, InputMessagesThatAreNotJsonStayAString) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.input.messages", "[not json"));
  EXPECT_EQ(map(span).at("input"), "[not json");
}

TEST(OtlpMapping, PromptAndCompletionBecomeInputAndOutput) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt", "What is 2+2?"));
  span.attributes.push_back(attr("gen_ai.completion", "4"));
  const json::object row = map(span);
  EXPECT_EQ(row.at("input"), "What is 2+2?");
  EXPECT_EQ(row.at("output"), "4");  // a string, though it would parse as JSON
}

TEST(OtlpMapping, PromptJsonAndCompletionJsonAreParsed) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt_json", R"({"q":1})"));
  span.attributes.push_back(attr("gen_ai.completion_json", R"([1,2])"));
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("input")), R"({"q":1})");
  EXPECT_EQ(json::serialize(row.at("output")), R"([1,2])");
}

TEST(OtlpMapping, JsonVariantThatIsNotJsonGoesToMetadata) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt_json", "{broken"));
  span.attributes.push_back(attr("braintrust.output_json", "nope"));
  const json::object row = map(span);
  EXPECT_FALSE(row.contains("input"));
  EXPECT_FALSE(row.contains("output"));
  EXPECT_EQ(at(row, "metadata", "gen_ai.prompt_json"), "{broken");
  EXPECT_EQ(at(row, "metadata", "braintrust.output_json"), "nope");
}

TEST(OtlpMapping, FlattenedPromptsBecomeMessageArrays) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt.1.content", "hi"));
  span.attributes.push_back(attr("gen_ai.prompt.0.role", "system"));
  span.attributes.push_back(attr("gen_ai.prompt.0.content", "be brief"));
  span.attributes.push_back(attr("gen_ai.prompt.1.role", "user"));
  span.attributes.push_back(attr("gen_ai.completion.0.role", "assistant"));
  span.attributes.push_back(attr("gen_ai.completion.0.content", "ok"));
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("input")),
            R"([{"role":"system","content":"be brief"},{"content":"hi","role":"user"}])");
  EXPECT_EQ(json::serialize(row.at("output")), R"([{"role":"assistant","content":"ok"}])");
}

TEST(OtlpMapping, SemanticMessagesWinOverLegacyPromptWhateverTheOrder) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt", "legacy"));
  span.attributes.push_back(attr("gen_ai.input.messages", R"(["new"])"));
  span.attributes.push_back(attr("gen_ai.prompt", "legacy again"));
  EXPECT_EQ(json::serialize(map(span).at("input")), R"(["new"])");
}

TEST(OtlpMapping, UsageBecomesMetrics) {
  const std::pair<const char*, const char*> cases[] = {
      {"gen_ai.usage.input_tokens", "prompt_tokens"},
      {"gen_ai.usage.prompt_tokens", "prompt_tokens"},
      {"gen_ai.usage.output_tokens", "completion_tokens"},
      {"gen_ai.usage.completion_tokens", "completion_tokens"},
      {"gen_ai.usage.total_tokens", "tokens"}};
  for (const auto& [attribute, metric] : cases) {
    Span span = base_span();
    span.attributes.push_back(attr(attribute, AnyValue::of_int(42)));
    const json::object row = map(span);
    EXPECT_EQ(at(row, "metrics", metric), 42) << attribute;
    EXPECT_FALSE(row.contains("metadata")) << attribute;
  }
  Span text = base_span();
  text.attributes.push_back(attr("gen_ai.usage.input_tokens", "many"));
  const json::object row = map(text);
  EXPECT_TRUE(at(row, "metrics", "prompt_tokens").is_null());
  EXPECT_EQ(at(row, "metadata", "gen_ai.usage.input_tokens"), "many");
}

// The insert API's token metrics are integers: a double without a fraction is written as
// the integer it is; one with a fraction, or beyond int64, is not a count and stays in
// metadata under its own key.
TEST(OtlpMapping, TokenCountsSentAsDoublesAreIntegersOrStayInMetadata) {
  Span whole = base_span();
  whole.attributes.push_back(attr("gen_ai.usage.total_tokens", AnyValue::of_double(250.0)));
  whole.attributes.push_back(attr("gen_ai.usage.input_tokens", AnyValue::of_double(-0.0)));
  const json::object row = map(whole);
  ASSERT_TRUE(at(row, "metrics", "tokens").is_int64()) << json::serialize(row);
  EXPECT_EQ(at(row, "metrics", "tokens"), 250);
  EXPECT_EQ(at(row, "metrics", "prompt_tokens"), 0);
  EXPECT_FALSE(row.contains("metadata"));

  for (const double not_a_count : {2.5, 1e19, -1e19, std::numeric_limits<double>::infinity()}) {
    Span span = base_span();
    span.attributes.push_back(attr("gen_ai.usage.output_tokens", AnyValue::of_double(not_a_count)));
    const json::object mapped = map(span);
    EXPECT_TRUE(at(mapped, "metrics", "completion_tokens").is_null()) << not_a_count;
    EXPECT_FALSE(at(mapped, "metadata", "gen_ai.usage.output_tokens").is_null()) << not_a_count;
  }
}

TEST(OtlpMapping, RequestParametersGoToMetadataAndModelLosesItsProviderPrefix) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.system", "openai"));
  span.attributes.push_back(attr("gen_ai.request.model", "openai/gpt-4o"));
  span.attributes.push_back(attr("gen_ai.request.temperature", AnyValue::of_double(0.5)));
  span.attributes.push_back(attr("gen_ai.request.max_tokens", AnyValue::of_int(100)));
  const json::object row = map(span);
  EXPECT_EQ(at(row, "metadata", "model"), "gpt-4o");
  EXPECT_EQ(at(row, "metadata", "temperature"), 0.5);
  EXPECT_EQ(at(row, "metadata", "max_tokens"), 100);
  EXPECT_EQ(at(row, "metadata", "gen_ai.system"), "openai");

  Span other = base_span();  // a slash that is not the provider's prefix stays
  other.attributes.push_back(attr("gen_ai.request.model", "meta-llama/Llama-3"));
  EXPECT_EQ(at(map(other), "metadata", "model"), "meta-llama/Llama-3");
}

TEST(OtlpMapping, OtherAttributesAndResourceAttributesGoToMetadata) {
  Traces traces;
  traces.resources.push_back(Resource{{attr("service.name", "checkout")}});
  Span span = base_span();
  span.attributes.push_back(attr("http.method", "POST"));
  span.attributes.push_back(attr("retry", AnyValue::of_bool(true)));
  AnyValue list;
  list.type = AnyValue::Type::array;
  list.array = {AnyValue::of_int(1), AnyValue::of_string("two")};
  span.attributes.push_back(attr("list", list));
  AnyValue bytes;
  bytes.type = AnyValue::Type::bytes;
  bytes.text = "hi!";
  span.attributes.push_back(attr("blob", bytes));
  const json::object row = map(span, traces);
  EXPECT_EQ(at(row, "metadata", "http.method"), "POST");
  EXPECT_EQ(at(row, "metadata", "retry"), true);
  EXPECT_EQ(json::serialize(at(row, "metadata", "list")), R"([1,"two"])");
  EXPECT_EQ(at(row, "metadata", "blob"), "aGkh");
  EXPECT_EQ(at(row, "metadata", "resource.service.name"), "checkout");
}

TEST(OtlpMapping, BraintrustAttributesSetTheirFieldsAndStayOutOfMetadata) {
  Span span = base_span();
  span.attributes.push_back(attr("braintrust.input", "question"));
  span.attributes.push_back(attr("braintrust.output_json", R"({"answer":4})"));
  span.attributes.push_back(attr("braintrust.expected", "4"));
  span.attributes.push_back(attr("braintrust.metadata_json", R"({"user":"u1"})"));
  span.attributes.push_back(attr("braintrust.metrics_json", R"({"latency":0.5})"));
  span.attributes.push_back(attr("braintrust.scores_json", R"({"accuracy":1})"));
  span.attributes.push_back(attr("braintrust.tags_json", R"(["a","b"])"));
  const json::object row = map(span);
  EXPECT_EQ(row.at("input"), "question");
  EXPECT_EQ(json::serialize(row.at("output")), R"({"answer":4})");
  EXPECT_EQ(row.at("expected"), "4");
  EXPECT_EQ(json::serialize(row.at("metadata")), R"({"user":"u1"})");
  EXPECT_EQ(at(row, "metrics", "latency"), 0.5);
  EXPECT_TRUE(at(row, "metrics", "start").is_double());  // merged with the span's times
  EXPECT_EQ(json::serialize(row.at("scores")), R"({"accuracy":1})");
  EXPECT_EQ(json::serialize(row.at("tags")), R"(["a","b"])");
}

TEST(OtlpMapping, BraintrustStructuredValuesAndFlattenedForms) {
  Span span = base_span();
  AnyValue metadata;
  metadata.type = AnyValue::Type::kvlist;
  metadata.kvlist = {attr("env", "prod")};
  span.attributes.push_back(attr("braintrust.metadata", metadata));
  span.attributes.push_back(attr("braintrust.metadata.team.name", "ml"));
  span.attributes.push_back(attr("braintrust.input.0.role", "user"));
  span.attributes.push_back(attr("braintrust.input.0.content", "hi"));
  span.attributes.push_back(attr("braintrust.scores.accuracy", AnyValue::of_double(0.75)));
  span.attributes.push_back(attr("braintrust.tags.0", "x"));
  span.attributes.push_back(attr("braintrust.span_attributes.type", "eval"));
  span.attributes.push_back(attr("gen_ai.operation.name", "chat"));
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("metadata")), R"({"env":"prod","team":{"name":"ml"}})");
  EXPECT_EQ(json::serialize(row.at("input")), R"([{"role":"user","content":"hi"}])");
  EXPECT_EQ(at(row, "scores", "accuracy"), 0.75);
  EXPECT_EQ(json::serialize(row.at("tags")), R"(["x"])");
  EXPECT_EQ(at(row, "span_attributes", "type"), "eval");  // braintrust.* wins over the convention
}

TEST(OtlpMapping, FlattenedPathsAreCappedAt32Levels) {
  Span span = base_span();
  std::string key = "braintrust.metadata";
  for (int i = 0; i < 100000; ++i) key += ".a";
  span.attributes.push_back(attr(key, "deep"));
  std::string out;
  map_span(Traces{}, span, out);  // no stack overflow, no million-level tree
  json::parse_options options;
  options.max_depth = 64;
  EXPECT_NO_THROW(json::parse(out, {}, options));
}

TEST(OtlpMapping, BraintrustWinsOverGenAiWhateverTheOrder) {
  Span span = base_span();
  span.attributes.push_back(attr("braintrust.input", "bt"));
  span.attributes.push_back(attr("gen_ai.input.messages", R"(["genai"])"));
  span.attributes.push_back(attr("gen_ai.usage.input_tokens", AnyValue::of_int(5)));
  span.attributes.push_back(attr("braintrust.metrics.prompt_tokens", AnyValue::of_int(7)));
  const json::object row = map(span);
  EXPECT_EQ(row.at("input"), "bt");
  EXPECT_EQ(at(row, "metrics", "prompt_tokens"), 7);
}

TEST(OtlpMapping, BraintrustValueOfTheWrongShapeGoesToMetadata) {
  Span span = base_span();
  span.attributes.push_back(attr("braintrust.metadata", "not an object"));
  span.attributes.push_back(attr("braintrust.tags", "not an array"));
  span.attributes.push_back(attr("braintrust.unknown", "x"));
  const json::object row = map(span);
  EXPECT_EQ(at(row, "metadata", "braintrust.metadata"), "not an object");
  EXPECT_EQ(at(row, "metadata", "braintrust.tags"), "not an array");
  EXPECT_EQ(at(row, "metadata", "braintrust.unknown"), "x");
  EXPECT_FALSE(row.contains("tags"));
}

TEST(OtlpMapping, MessageEventsFoldIntoInputAndOutput) {
  Span span = base_span();
  span.events.push_back(
      SpanEvent{"gen_ai.system.message", 1, {attr("content", "be brief"), attr("gen_ai.system", "openai")}});
  span.events.push_back(SpanEvent{"gen_ai.user.message", 2, {attr("content", "hi")}});
  span.events.push_back(SpanEvent{"gen_ai.tool.message", 3, {attr("content", "42"), attr("id", "call_1")}});
  span.events.push_back(SpanEvent{"gen_ai.choice",
                                  4,
                                  {attr("index", AnyValue::of_int(0)), attr("finish_reason", "stop"),
                                   attr("message", R"({"role":"assistant","content":"hello"})")}});
  span.events.push_back(SpanEvent{"unrelated", 5, {attr("x", "y")}});
  const json::object row = map(span);
  EXPECT_EQ(json::serialize(row.at("input")),
            R"([{"role":"system","content":"be brief"},{"role":"user","content":"hi"},)"
            R"({"role":"tool","content":"42","id":"call_1"}])");
  EXPECT_EQ(json::serialize(row.at("output")),
            R"([{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello"}}])");
}

TEST(OtlpMapping, AssistantMessageEventFoldsIntoOutput) {
  Span span = base_span();
  span.events.push_back(SpanEvent{"gen_ai.assistant.message", 1, {attr("content", "sure")}});
  EXPECT_EQ(json::serialize(map(span).at("output")), R"([{"role":"assistant","content":"sure"}])");
}

TEST(OtlpMapping, AttributesWinOverEvents) {
  Span span = base_span();
  span.attributes.push_back(attr("gen_ai.prompt", "from attribute"));
  span.events.push_back(SpanEvent{"gen_ai.user.message", 1, {attr("content", "from event")}});
  EXPECT_EQ(map(span).at("input"), "from attribute");
}

TEST(OtlpMapping, ErrorStatusSetsError) {
  Span span = base_span();
  span.status_code = static_cast<std::int32_t>(StatusCode::error);
  span.status_message = "rate limited";
  EXPECT_EQ(map(span).at("error"), "rate limited");

  span.status_message.clear();
  EXPECT_EQ(map(span).at("error"), "error");
  span.events.push_back(SpanEvent{
      "exception", 1, {attr("exception.type", "TimeoutError"), attr("exception.message", "took too long")}});
  EXPECT_EQ(map(span).at("error"), "TimeoutError: took too long");

  span.status_code = static_cast<std::int32_t>(StatusCode::ok);
  EXPECT_FALSE(map(span).contains("error"));
}

TEST(OtlpMapping, NonFiniteDoublesBecomeStrings) {
  Span span = base_span();
  span.attributes.push_back(attr("nan", AnyValue::of_double(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(at(map(span), "metadata", "nan"), "NaN");
}

TEST(OtlpMapping, InvalidIdsAndTimesAreRejectedWithAReason) {
  auto rejection = [](auto change) {
    Span span = base_span();
    change(span);
    return validate_span(span);
  };
  EXPECT_FALSE(rejection([](Span&) {}));
  EXPECT_EQ(rejection([](Span& s) { s.trace_id.pop_back(); }), SpanRejection::invalid_trace_id);
  EXPECT_EQ(rejection([](Span& s) { s.trace_id = std::string(16, '\0'); }), SpanRejection::invalid_trace_id);
  EXPECT_EQ(rejection([](Span& s) { s.trace_id_not_hex = true; }), SpanRejection::invalid_trace_id);
  EXPECT_EQ(rejection([](Span& s) { s.span_id.clear(); }), SpanRejection::invalid_span_id);
  EXPECT_EQ(rejection([](Span& s) { s.span_id = std::string(8, '\0'); }), SpanRejection::invalid_span_id);
  EXPECT_EQ(rejection([](Span& s) { s.parent_span_id = "abc"; }), SpanRejection::invalid_parent_span_id);
  EXPECT_EQ(rejection([](Span& s) { s.start_time_unix_nano = 0; }), SpanRejection::invalid_start_time);
  EXPECT_EQ(rejection([](Span& s) { s.end_time_unix_nano = s.start_time_unix_nano - 1; }),
            SpanRejection::end_before_start);
}

}  // namespace
}  // namespace spanline::otlp
