// The mapped rows of one rich OTLP request, byte for byte: every convention of the mapping
// table, every AnyValue type, escapes, doubles across their range, duplicate keys, span
// events, error statuses and spans refused for each reason. Recorded from the mapping
// before it was rewritten for speed (a boost::json tree per row, every row re-validated by
// the ingest EventParser); any change to a row's bytes, its id location or a refusal
// reason fails here.
#include "otlp/otlp_rows.hpp"

#include "ingest/ndjson_parser.hpp"
#include "otlp/otlp_decode.hpp"
#include "proto/otlp_trace.pb.h"
#include "support/openapi_schema.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace spanline::otlp {
namespace {

namespace pb = spanline::otlp::v1;
using Attributes = google::protobuf::RepeatedPtrField<pb::KeyValue>;

pb::AnyValue* add(Attributes* attributes, const std::string& key) {
  pb::KeyValue* kv = attributes->Add();
  kv->set_key(key);
  return kv->mutable_value();
}
void add_string(Attributes* attributes, const std::string& key, const std::string& value) {
  add(attributes, key)->set_string_value(value);
}
void add_int(Attributes* attributes, const std::string& key, std::int64_t value) {
  add(attributes, key)->set_int_value(value);
}
void add_double(Attributes* attributes, const std::string& key, double value) {
  add(attributes, key)->set_double_value(value);
}

class RequestBuilder {
 public:
  RequestBuilder() {
    pb::ResourceSpans* resource_spans = request_.add_resource_spans();
    Attributes* resource = resource_spans->mutable_resource()->mutable_attributes();
    add_string(resource, "service.name", "golden");
    add_string(resource, "deployment.environment", "test");
    add_string(resource, "service.name", "golden-again");  // a duplicate: last value, first place
    add_int(resource, "process.pid", 4242);
    scope_ = resource_spans->add_scope_spans();
    scope_->mutable_scope()->set_name("golden-scope");
  }

  // A valid span with ids derived from `n`; times 1.5 s apart.
  pb::Span* span(int n, const std::string& name) {
    pb::Span* span = scope_->add_spans();
    std::string trace(16, '\0');
    for (std::size_t i = 0; i < trace.size(); ++i) trace[i] = static_cast<char>(0x10 + n * 3 + static_cast<int>(i));
    std::string id(8, '\0');
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>(0xa0 + n * 5 + static_cast<int>(i));
    span->set_trace_id(trace);
    span->set_span_id(id);
    span->set_name(name);
    span->set_start_time_unix_nano(1'733'011'200'123'456'789u + static_cast<std::uint64_t>(n) * 1'000'000'007u);
    span->set_end_time_unix_nano(span->start_time_unix_nano() + 1'500'000'000u);
    return span;
  }

  std::string serialize() const { return request_.SerializeAsString(); }

 private:
  pb::ExportTraceServiceRequest request_;
  pb::ScopeSpans* scope_ = nullptr;
};

std::string rich_request() {
  RequestBuilder b;

  // 0: a GenAI chat span as the semantic conventions send it.
  pb::Span* chat = b.span(0, "chat gpt-4o");
  chat->set_parent_span_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  Attributes* a = chat->mutable_attributes();
  add_string(a, "gen_ai.operation.name", "chat");
  add_string(a, "gen_ai.system", "openai");
  add_string(a, "gen_ai.request.model", "openai/gpt-4o");
  add_int(a, "gen_ai.request.max_tokens", 512);
  add_double(a, "gen_ai.request.temperature", 0.7);
  add_double(a, "gen_ai.request.top_p", 1.0);
  add_string(a, "gen_ai.response.model", "gpt-4o-2024-08-06");
  add_string(a, "gen_ai.input.messages",
             "[{\"role\": \"system\", \"content\": \"Be brief.\"},\n {\"role\":\"user\",\"content\":\"caf\xc3\xa9 \\u00e9\"}]");
  add_string(a, "gen_ai.output.messages", R"([{"role":"assistant","content":"Sure.","n":1.50e2}])");
  add_int(a, "gen_ai.usage.input_tokens", 212);
  add_int(a, "gen_ai.usage.output_tokens", 38);
  add_double(a, "gen_ai.usage.total_tokens", 250.0);
  add_string(a, "server.address", "api.openai.com");
  add_int(a, "http.response.status_code", 200);
  add_string(a, "server.address", "api2.openai.com");  // a duplicate attribute

  // 1: every AnyValue type, escapes and doubles across their range, in metadata.
  pb::Span* values = b.span(1, "values \"quoted\" \\ name");
  a = values->mutable_attributes();
  add(a, "empty");
  add(a, "bool.true")->set_bool_value(true);
  add(a, "bool.false")->set_bool_value(false);
  add_int(a, "int.zero", 0);
  add_int(a, "int.negative", -1);
  add_int(a, "int.max", std::numeric_limits<std::int64_t>::max());
  add_int(a, "int.min", std::numeric_limits<std::int64_t>::min());
  const double doubles[] = {0.0,   -0.0,  0.1,     -2.5,   3.0,     100.0,   1e21,    1e22,    1e-7,
                            5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.125,
                            1.0 / 3, 1733011200.123456789, 6.02214076e23, 0.000123};
  for (std::size_t i = 0; i < std::size(doubles); ++i) add_double(a, "double." + std::to_string(i), doubles[i]);
  add_double(a, "double.nan", std::numeric_limits<double>::quiet_NaN());
  add_double(a, "double.inf", std::numeric_limits<double>::infinity());
  add_double(a, "double.-inf", -std::numeric_limits<double>::infinity());
  add(a, "bytes.0")->set_bytes_value("");
  add(a, "bytes.1")->set_bytes_value("a");
  add(a, "bytes.2")->set_bytes_value("ab");
  add(a, "bytes.3")->set_bytes_value(std::string("\x00\xff\x10", 3));
  add_string(a, "escapes", std::string("q\" b\\ s/ n\n r\r t\t b\b f\f nul") + '\0' + " x01\x01 x1f\x1f del\x7f");
  add_string(a, "unicode", "\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
  add_string(a, "key \"with\"\nescapes", "v");
  add_string(a, "", "empty key");
  pb::ArrayValue* array = add(a, "array")->mutable_array_value();
  array->add_values()->set_int_value(1);
  array->add_values()->set_string_value("two");
  array->add_values();  // empty AnyValue: null
  pb::ArrayValue* inner = array->add_values()->mutable_array_value();
  inner->add_values()->set_double_value(2.5);
  inner->add_values()->mutable_array_value();  // []
  add(a, "array.empty")->mutable_array_value();
  pb::KeyValueList* kvlist = add(a, "kvlist")->mutable_kvlist_value();
  add_string(kvlist->mutable_values(), "k", "first");
  add_int(kvlist->mutable_values(), "n", 7);
  add_string(kvlist->mutable_values(), "k", "second");  // a duplicate key inside a kvlist
  add(kvlist->mutable_values(), "deeper")->mutable_kvlist_value();
  pb::KeyValueList* wide = add(a, "kvlist.wide")->mutable_kvlist_value();
  for (int i = 0; i < 40; ++i) add_int(wide->mutable_values(), "k" + std::to_string(i), i);
  add_string(wide->mutable_values(), "k5", "replaced");
  add_string(wide->mutable_values(), "k39", "replaced too");
  add_string(a, "int.zero", "replaced by a string");

  // 2: legacy prompt/completion, _json variants, flattened prompts, usage that is not a number.
  pb::Span* legacy = b.span(2, "completion");
  a = legacy->mutable_attributes();
  add_string(a, "gen_ai.prompt", "What is 2+2?");
  add_string(a, "gen_ai.prompt_json", "{ \"q\" : [1, 2.50, true, null] }");  // wins over gen_ai.prompt
  add_string(a, "gen_ai.completion_json", "{not json");
  add_string(a, "gen_ai.completion.0.role", "assistant");
  add_string(a, "gen_ai.completion.0.content", "4");
  add_string(a, "gen_ai.completion.1.content", "four");
  add_string(a, "gen_ai.usage.prompt_tokens", "many");
  add_int(a, "gen_ai.usage.completion_tokens", 1);
  add_string(a, "gen_ai.operation.name", "dance");
  add_string(a, "gen_ai.request.model", "gpt-4o");  // no provider: kept whole
  legacy->set_end_time_unix_nano(0);  // no end: no metrics.end

  // 3: flattened prompts only (object of indices becomes an array); output as a plain string.
  pb::Span* flat = b.span(3, "flat");
  a = flat->mutable_attributes();
  add_string(a, "gen_ai.prompt.1.content", "hi");
  add_string(a, "gen_ai.prompt.0.role", "system");
  add_string(a, "gen_ai.prompt.0.content", "be brief");
  add_string(a, "gen_ai.prompt.1.role", "user");
  add_string(a, "gen_ai.completion", "[1,2]");
  add_string(a, "gen_ai.operation.name", "execute_tool");

  // 4: braintrust.* attributes of every shape.
  pb::Span* bt = b.span(4, "eval");
  a = bt->mutable_attributes();
  add_string(bt->mutable_attributes(), "gen_ai.input.messages", R"(["loses to braintrust.input"])");
  add_string(a, "braintrust.input_json", "{ \"question\" : \"2+2\", \"n\": 1.0 }");
  add_string(a, "braintrust.output", "4");
  add_string(a, "braintrust.expected_json", "[4, \"four\"]");
  pb::KeyValueList* metadata = add(a, "braintrust.metadata")->mutable_kvlist_value();
  add_string(metadata->mutable_values(), "env", "prod");
  add_string(a, "braintrust.metadata.team.name", "ml");
  add_string(a, "braintrust.metadata_json", R"({"user":"u1","env":"staging"})");
  add_string(a, "braintrust.metrics_json", R"({"latency":0.5,"start":1})");
  add_double(a, "braintrust.scores.accuracy", 0.75);
  add_string(a, "braintrust.scores_json", R"({"f1":0.5})");
  add_string(a, "braintrust.tags_json", R"(["a","b"])");
  add_string(a, "braintrust.span_attributes.type", "score");
  add_string(a, "braintrust.unknown", "x");
  add_string(a, "braintrust.tags", "not an array");
  add_string(a, "braintrust.output_json", "nope");
  add_int(a, "gen_ai.usage.input_tokens", 5);
  add_int(a, "braintrust.metrics.prompt_tokens", 7);
  add_string(a, "gen_ai.operation.name", "chat");

  // 5: flattened braintrust input and tags.
  pb::Span* bt_flat = b.span(5, "bt-flat");
  a = bt_flat->mutable_attributes();
  add_string(a, "braintrust.input.0.role", "user");
  add_string(a, "braintrust.input.0.content", "hi");
  add_string(a, "braintrust.input.1", "plain");
  add_string(a, "braintrust.tags.0", "x");
  add_string(a, "braintrust.tags.1", "y");
  add_string(a, "braintrust.metadata", "not an object");

  // 6: message events folded into input and output; error status with a message.
  pb::Span* events = b.span(6, "events");
  auto event = [&](const std::string& name) {
    pb::Span::Event* e = events->add_events();
    e->set_name(name);
    e->set_time_unix_nano(events->start_time_unix_nano() + 1000);
    return e->mutable_attributes();
  };
  Attributes* e = event("gen_ai.system.message");
  add_string(e, "content", "be brief");
  add_string(e, "gen_ai.system", "openai");
  e = event("gen_ai.user.message");
  add_string(e, "content", "hi");
  add_string(e, "structured", R"({"a":[1,2]})");
  e = event("gen_ai.tool.message");
  add_string(e, "content", "42");
  add_string(e, "id", "call_1");
  e = event("gen_ai.choice");
  add_int(e, "index", 0);
  add_string(e, "finish_reason", "stop");
  add_string(e, "message", R"({"role":"assistant","content":"hello"})");
  add_string(e, "broken", "[not json");
  e = event("unrelated");
  add_string(e, "x", "y");
  events->mutable_status()->set_code(2);
  events->mutable_status()->set_message("rate limited \"429\"");

  // 7: error status without a message: the exception event describes it.
  pb::Span* exception = b.span(7, "exception");
  e = exception->add_events()->mutable_attributes();
  exception->mutable_events(0)->set_name("exception");
  add_string(e, "exception.type", "TimeoutError");
  add_string(e, "exception.message", "took too long");
  exception->mutable_status()->set_code(2);
  exception->set_parent_span_id(std::string(8, '\0'));  // all zero: a root

  // 8: error status, nothing to describe it; status ok elsewhere is no error.
  pb::Span* bare_error = b.span(8, "bare error");
  bare_error->mutable_status()->set_code(2);
  pb::Span* ok = b.span(9, "ok");
  ok->mutable_status()->set_code(1);
  ok->mutable_status()->set_message("fine");

  // 10-14: refused by the id and time checks.
  b.span(10, "bad trace")->set_trace_id("short");
  b.span(11, "zero span id")->set_span_id(std::string(8, '\0'));
  b.span(12, "bad parent")->set_parent_span_id("abc");
  b.span(13, "no start")->set_start_time_unix_nano(0);
  pb::Span* backwards = b.span(14, "backwards");
  backwards->set_end_time_unix_nano(backwards->start_time_unix_nano() - 1);

  // 15: invalid UTF-8 in a plain attribute and in messages JSON (not JSON then, so a string).
  pb::Span* utf8 = b.span(15, "bad utf8");
  add_string(utf8->mutable_attributes(), "gen_ai.input.messages", "[\"\xff\"]");
  pb::Span* utf8_name = b.span(16, "bad \xc3\x28 name");
  (void)utf8_name;

  // 17: deep values: arrays 40 levels down, and a flattened path of 40 segments (capped at 32).
  pb::Span* deep = b.span(17, "deep");
  pb::AnyValue* at = add(deep->mutable_attributes(), "deep.array");
  for (int i = 0; i < 40; ++i) at = at->mutable_array_value()->add_values();
  at->set_string_value("bottom");
  std::string path = "braintrust.metadata";
  for (int i = 0; i < 40; ++i) path += ".l" + std::to_string(i);
  add_string(deep->mutable_attributes(), path, "leaf");

  // 18: an array 35 levels deep under a flattened path 32 levels deep: deeper than
  // ingest's 64 levels.
  pb::Span* too_deep = b.span(18, "too deep");
  std::string deep_path = "braintrust.metadata";
  for (int i = 0; i < 31; ++i) deep_path += ".p";
  add_string(too_deep->mutable_attributes(), deep_path, "x");
  pb::AnyValue* deep_value = add(too_deep->mutable_attributes(), deep_path + ".q");
  for (int i = 0; i < 35; ++i) deep_value = deep_value->mutable_array_value()->add_values();
  deep_value->set_int_value(1);

  // 19: large enough to be refused by a parser with a small event limit.
  pb::Span* large = b.span(19, "large");
  add_string(large->mutable_attributes(), "gen_ai.completion", std::string(3000, 'x'));
  return b.serialize();
}

// One line per span: "row <span> id@<offset>+<size> <json>" or "refused <span> <reason>".
std::string transcript(const std::string& body, detail::EventParser& parser) {
  Traces traces;
  const auto error = decode_otlp_request(body, Encoding::protobuf, traces);
  EXPECT_FALSE(error) << error->message;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  std::string out;
  EXPECT_EQ(mapped.rows.size(), mapped.row_spans.size());
  std::size_t row = 0;
  std::size_t refused = 0;
  for (std::size_t span = 0; span < traces.spans.size(); ++span) {
    if (row < mapped.rows.size() && mapped.row_spans[row] == span) {
      const PreparedRow& r = mapped.rows[row++];
      out += "row " + std::to_string(span) + " id@" + std::to_string(r.id_offset) + "+" +
             std::to_string(r.id_size) + (r.is_merge ? " merge " : " ") + r.json + "\n";
    } else if (refused < mapped.refused.size() && mapped.refused[refused].index == span) {
      out += "refused " + std::to_string(span) + " " + std::string(to_string(mapped.refused[refused++].reason)) + "\n";
    } else {
      out += "lost " + std::to_string(span) + "\n";
    }
  }
  return out;
}

// Recorded with ingest's default limits.
const std::string kRows =
    "row 0 id@7+49 {\"id\":\"101112131415161718191a1b1c1d1e1f-a0a1a2a3a4a5a6a7\",\"span_id\":\"a0a1a2a3a4a5a6a7\",\"root_span_id\":\"101112131415161718191a1b1c1d1e1f\",\"span_parents\":[\"0102030405060708\"],\"created\":\"2024-12-01T00:00:00.123456Z\",\"span_attributes\":{\"name\":\"chat gpt-4o\",\"type\":\"llm\"},\"input\":[{\"role\": \"system\", \"content\": \"Be brief.\"},\n"
    " {\"role\":\"user\",\"content\":\"café \\u00e9\"}],\"output\":[{\"role\":\"assistant\",\"content\":\"Sure.\",\"n\":1.50e2}],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"gen_ai.system\":\"openai\",\"model\":\"gpt-4o\",\"max_tokens\":512,\"temperature\":7E-1,\"top_p\":1E0,\"gen_ai.response.model\":\"gpt-4o-2024-08-06\",\"server.address\":\"api2.openai.com\",\"http.response.status_code\":200},\"metrics\":{\"prompt_tokens\":212,\"completion_tokens\":38,\"tokens\":250,\"start\":1.7330112001234567E9,\"end\":1.7330112016234567E9}}\n"
    "row 1 id@7+49 {\"id\":\"131415161718191a1b1c1d1e1f202122-a5a6a7a8a9aaabac\",\"span_id\":\"a5a6a7a8a9aaabac\",\"root_span_id\":\"131415161718191a1b1c1d1e1f202122\",\"created\":\"2024-12-01T00:00:01.123456Z\",\"span_attributes\":{\"name\":\"values \\\"quoted\\\" \\\\ name\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"empty\":null,\"bool.true\":true,\"bool.false\":false,\"int.zero\":\"replaced by a string\",\"int.negative\":-1,\"int.max\":9223372036854775807,\"int.min\":-9223372036854775808,\"double.0\":0E0,\"double.1\":-0E0,\"double.2\":1E-1,\"double.3\":-2.5E0,\"double.4\":3E0,\"double.5\":1E2,\"double.6\":1E21,\"double.7\":1E22,\"double.8\":1E-7,\"double.9\":5E-324,\"double.10\":2.2250738585072014E-308,\"double.11\":1.7976931348623157E308,\"double.12\":1.23456789125E8,\"double.13\":3.333333333333333E-1,\"double.14\":1.7330112001234567E9,\"double.15\":6.02214076E23,\"double.16\":1.23E-4,\"double.nan\":\"NaN\",\"double.inf\":\"Infinity\",\"double.-inf\":\"-Infinity\",\"bytes.0\":\"\",\"bytes.1\":\"YQ==\",\"bytes.2\":\"YWI=\",\"bytes.3\":\"AP8Q\",\"escapes\":\"q\\\" b\\\\ s/ n\\n r\\r t\\t b\\b f\\f nul\\u0000 x01\\u0001 x1f\\u001f del\x7f\",\"unicode\":\"é 日本 😀\",\"key \\\"with\\\"\\nescapes\":\"v\",\"\":\"empty key\",\"array\":[1,\"two\",null,[2.5E0,[]]],\"array.empty\":[],\"kvlist\":{\"k\":\"second\",\"n\":7,\"deeper\":{}},\"kvlist.wide\":{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":\"replaced\",\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10,\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,\"k16\":16,\"k17\":17,\"k18\":18,\"k19\":19,\"k20\":20,\"k21\":21,\"k22\":22,\"k23\":23,\"k24\":24,\"k25\":25,\"k26\":26,\"k27\":27,\"k28\":28,\"k29\":29,\"k30\":30,\"k31\":31,\"k32\":32,\"k33\":33,\"k34\":34,\"k35\":35,\"k36\":36,\"k37\":37,\"k38\":38,\"k39\":\"replaced too\"}},\"metrics\":{\"start\":1.7330112011234567E9,\"end\":1.7330112026234567E9}}\n"
    "row 2 id@7+49 {\"id\":\"161718191a1b1c1d1e1f202122232425-aaabacadaeafb0b1\",\"span_id\":\"aaabacadaeafb0b1\",\"root_span_id\":\"161718191a1b1c1d1e1f202122232425\",\"created\":\"2024-12-01T00:00:02.123456Z\",\"span_attributes\":{\"name\":\"completion\"},\"input\":\"What is 2+2?\",\"output\":[{\"role\":\"assistant\",\"content\":\"4\"},{\"content\":\"four\"}],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"gen_ai.completion_json\":\"{not json\",\"gen_ai.usage.prompt_tokens\":\"many\",\"gen_ai.operation.name\":\"dance\",\"model\":\"gpt-4o\"},\"metrics\":{\"completion_tokens\":1,\"start\":1.7330112021234567E9}}\n"
    "row 3 id@7+49 {\"id\":\"191a1b1c1d1e1f202122232425262728-afb0b1b2b3b4b5b6\",\"span_id\":\"afb0b1b2b3b4b5b6\",\"root_span_id\":\"191a1b1c1d1e1f202122232425262728\",\"created\":\"2024-12-01T00:00:03.123456Z\",\"span_attributes\":{\"name\":\"flat\",\"type\":\"tool\"},\"input\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"content\":\"hi\",\"role\":\"user\"}],\"output\":\"[1,2]\",\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.7330112031234567E9,\"end\":1.7330112046234567E9}}\n"
    "row 4 id@7+49 {\"id\":\"1c1d1e1f202122232425262728292a2b-b4b5b6b7b8b9babb\",\"span_id\":\"b4b5b6b7b8b9babb\",\"root_span_id\":\"1c1d1e1f202122232425262728292a2b\",\"created\":\"2024-12-01T00:00:04.123456Z\",\"span_attributes\":{\"name\":\"eval\",\"type\":\"score\"},\"input\":{\"question\":\"2+2\",\"n\":1E0},\"output\":\"4\",\"expected\":[4,\"four\"],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"braintrust.unknown\":\"x\",\"braintrust.tags\":\"not an array\",\"braintrust.output_json\":\"nope\",\"env\":\"staging\",\"team\":{\"name\":\"ml\"},\"user\":\"u1\"},\"metrics\":{\"prompt_tokens\":7,\"start\":1,\"end\":1.7330112056234567E9,\"latency\":5E-1},\"scores\":{\"accuracy\":7.5E-1,\"f1\":5E-1},\"tags\":[\"a\",\"b\"]}\n"
    "row 5 id@7+49 {\"id\":\"1f202122232425262728292a2b2c2d2e-b9babbbcbdbebfc0\",\"span_id\":\"b9babbbcbdbebfc0\",\"root_span_id\":\"1f202122232425262728292a2b2c2d2e\",\"created\":\"2024-12-01T00:00:05.123456Z\",\"span_attributes\":{\"name\":\"bt-flat\"},\"input\":[{\"role\":\"user\",\"content\":\"hi\"},\"plain\"],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"braintrust.metadata\":\"not an object\"},\"metrics\":{\"start\":1.7330112051234567E9,\"end\":1.7330112066234567E9},\"tags\":[\"x\",\"y\"]}\n"
    "row 6 id@7+49 {\"id\":\"22232425262728292a2b2c2d2e2f3031-bebfc0c1c2c3c4c5\",\"span_id\":\"bebfc0c1c2c3c4c5\",\"root_span_id\":\"22232425262728292a2b2c2d2e2f3031\",\"created\":\"2024-12-01T00:00:06.123456Z\",\"span_attributes\":{\"name\":\"events\"},\"input\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"hi\",\"structured\":{\"a\":[1,2]}},{\"role\":\"tool\",\"content\":\"42\",\"id\":\"call_1\"}],\"output\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},\"broken\":\"[not json\"}],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.7330112061234567E9,\"end\":1.7330112076234567E9},\"error\":\"rate limited \\\"429\\\"\"}\n"
    "row 7 id@7+49 {\"id\":\"25262728292a2b2c2d2e2f3031323334-c3c4c5c6c7c8c9ca\",\"span_id\":\"c3c4c5c6c7c8c9ca\",\"root_span_id\":\"25262728292a2b2c2d2e2f3031323334\",\"created\":\"2024-12-01T00:00:07.123456Z\",\"span_attributes\":{\"name\":\"exception\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011207123457E9,\"end\":1.733011208623457E9},\"error\":\"TimeoutError: took too long\"}\n"
    "row 8 id@7+49 {\"id\":\"28292a2b2c2d2e2f3031323334353637-c8c9cacbcccdcecf\",\"span_id\":\"c8c9cacbcccdcecf\",\"root_span_id\":\"28292a2b2c2d2e2f3031323334353637\",\"created\":\"2024-12-01T00:00:08.123456Z\",\"span_attributes\":{\"name\":\"bare error\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011208123457E9,\"end\":1.733011209623457E9},\"error\":\"error\"}\n"
    "row 9 id@7+49 {\"id\":\"2b2c2d2e2f303132333435363738393a-cdcecfd0d1d2d3d4\",\"span_id\":\"cdcecfd0d1d2d3d4\",\"root_span_id\":\"2b2c2d2e2f303132333435363738393a\",\"created\":\"2024-12-01T00:00:09.123456Z\",\"span_attributes\":{\"name\":\"ok\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011209123457E9,\"end\":1.733011210623457E9}}\n"
    "refused 10 invalid_trace_id\n"
    "refused 11 invalid_span_id\n"
    "refused 12 invalid_parent_span_id\n"
    "refused 13 invalid_start_time\n"
    "refused 14 end_before_start\n"
    "refused 15 invalid_utf8\n"
    "refused 16 invalid_utf8\n"
    "row 17 id@7+49 {\"id\":\"434445464748494a4b4c4d4e4f505152-f5f6f7f8f9fafbfc\",\"span_id\":\"f5f6f7f8f9fafbfc\",\"root_span_id\":\"434445464748494a4b4c4d4e4f505152\",\"created\":\"2024-12-01T00:00:17.123456Z\",\"span_attributes\":{\"name\":\"deep\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"deep.array\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"bottom\"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"l0\":{\"l1\":{\"l2\":{\"l3\":{\"l4\":{\"l5\":{\"l6\":{\"l7\":{\"l8\":{\"l9\":{\"l10\":{\"l11\":{\"l12\":{\"l13\":{\"l14\":{\"l15\":{\"l16\":{\"l17\":{\"l18\":{\"l19\":{\"l20\":{\"l21\":{\"l22\":{\"l23\":{\"l24\":{\"l25\":{\"l26\":{\"l27\":{\"l28\":{\"l29\":{\"l30\":{\"l31.l32.l33.l34.l35.l36.l37.l38.l39\":\"leaf\"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}},\"metrics\":{\"start\":1.733011217123457E9,\"end\":1.733011218623457E9}}\n"
    "refused 18 too_deep\n"
    "row 19 id@7+49 {\"id\":\"494a4b4c4d4e4f505152535455565758-ff00010203040506\",\"span_id\":\"ff00010203040506\",\"root_span_id\":\"494a4b4c4d4e4f505152535455565758\",\"created\":\"2024-12-01T00:00:19.123456Z\",\"span_attributes\":{\"name\":\"large\"},\"output\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011219123457E9,\"end\":1.733011220623457E9}}\n";

// Recorded with a 1200-byte event limit and 4 levels of nesting.
const std::string kRowsTightLimits =
    "row 0 id@7+49 {\"id\":\"101112131415161718191a1b1c1d1e1f-a0a1a2a3a4a5a6a7\",\"span_id\":\"a0a1a2a3a4a5a6a7\",\"root_span_id\":\"101112131415161718191a1b1c1d1e1f\",\"span_parents\":[\"0102030405060708\"],\"created\":\"2024-12-01T00:00:00.123456Z\",\"span_attributes\":{\"name\":\"chat gpt-4o\",\"type\":\"llm\"},\"input\":[{\"role\": \"system\", \"content\": \"Be brief.\"},\n"
    " {\"role\":\"user\",\"content\":\"café \\u00e9\"}],\"output\":[{\"role\":\"assistant\",\"content\":\"Sure.\",\"n\":1.50e2}],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"gen_ai.system\":\"openai\",\"model\":\"gpt-4o\",\"max_tokens\":512,\"temperature\":7E-1,\"top_p\":1E0,\"gen_ai.response.model\":\"gpt-4o-2024-08-06\",\"server.address\":\"api2.openai.com\",\"http.response.status_code\":200},\"metrics\":{\"prompt_tokens\":212,\"completion_tokens\":38,\"tokens\":250,\"start\":1.7330112001234567E9,\"end\":1.7330112016234567E9}}\n"
    "refused 1 too_large\n"
    "row 2 id@7+49 {\"id\":\"161718191a1b1c1d1e1f202122232425-aaabacadaeafb0b1\",\"span_id\":\"aaabacadaeafb0b1\",\"root_span_id\":\"161718191a1b1c1d1e1f202122232425\",\"created\":\"2024-12-01T00:00:02.123456Z\",\"span_attributes\":{\"name\":\"completion\"},\"input\":\"What is 2+2?\",\"output\":[{\"role\":\"assistant\",\"content\":\"4\"},{\"content\":\"four\"}],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"gen_ai.completion_json\":\"{not json\",\"gen_ai.usage.prompt_tokens\":\"many\",\"gen_ai.operation.name\":\"dance\",\"model\":\"gpt-4o\"},\"metrics\":{\"completion_tokens\":1,\"start\":1.7330112021234567E9}}\n"
    "row 3 id@7+49 {\"id\":\"191a1b1c1d1e1f202122232425262728-afb0b1b2b3b4b5b6\",\"span_id\":\"afb0b1b2b3b4b5b6\",\"root_span_id\":\"191a1b1c1d1e1f202122232425262728\",\"created\":\"2024-12-01T00:00:03.123456Z\",\"span_attributes\":{\"name\":\"flat\",\"type\":\"tool\"},\"input\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"content\":\"hi\",\"role\":\"user\"}],\"output\":\"[1,2]\",\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.7330112031234567E9,\"end\":1.7330112046234567E9}}\n"
    "row 4 id@7+49 {\"id\":\"1c1d1e1f202122232425262728292a2b-b4b5b6b7b8b9babb\",\"span_id\":\"b4b5b6b7b8b9babb\",\"root_span_id\":\"1c1d1e1f202122232425262728292a2b\",\"created\":\"2024-12-01T00:00:04.123456Z\",\"span_attributes\":{\"name\":\"eval\",\"type\":\"score\"},\"input\":{\"question\":\"2+2\",\"n\":1E0},\"output\":\"4\",\"expected\":[4,\"four\"],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"braintrust.unknown\":\"x\",\"braintrust.tags\":\"not an array\",\"braintrust.output_json\":\"nope\",\"env\":\"staging\",\"team\":{\"name\":\"ml\"},\"user\":\"u1\"},\"metrics\":{\"prompt_tokens\":7,\"start\":1,\"end\":1.7330112056234567E9,\"latency\":5E-1},\"scores\":{\"accuracy\":7.5E-1,\"f1\":5E-1},\"tags\":[\"a\",\"b\"]}\n"
    "row 5 id@7+49 {\"id\":\"1f202122232425262728292a2b2c2d2e-b9babbbcbdbebfc0\",\"span_id\":\"b9babbbcbdbebfc0\",\"root_span_id\":\"1f202122232425262728292a2b2c2d2e\",\"created\":\"2024-12-01T00:00:05.123456Z\",\"span_attributes\":{\"name\":\"bt-flat\"},\"input\":[{\"role\":\"user\",\"content\":\"hi\"},\"plain\"],\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242,\"braintrust.metadata\":\"not an object\"},\"metrics\":{\"start\":1.7330112051234567E9,\"end\":1.7330112066234567E9},\"tags\":[\"x\",\"y\"]}\n"
    "refused 6 too_deep\n"
    "row 7 id@7+49 {\"id\":\"25262728292a2b2c2d2e2f3031323334-c3c4c5c6c7c8c9ca\",\"span_id\":\"c3c4c5c6c7c8c9ca\",\"root_span_id\":\"25262728292a2b2c2d2e2f3031323334\",\"created\":\"2024-12-01T00:00:07.123456Z\",\"span_attributes\":{\"name\":\"exception\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011207123457E9,\"end\":1.733011208623457E9},\"error\":\"TimeoutError: took too long\"}\n"
    "row 8 id@7+49 {\"id\":\"28292a2b2c2d2e2f3031323334353637-c8c9cacbcccdcecf\",\"span_id\":\"c8c9cacbcccdcecf\",\"root_span_id\":\"28292a2b2c2d2e2f3031323334353637\",\"created\":\"2024-12-01T00:00:08.123456Z\",\"span_attributes\":{\"name\":\"bare error\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011208123457E9,\"end\":1.733011209623457E9},\"error\":\"error\"}\n"
    "row 9 id@7+49 {\"id\":\"2b2c2d2e2f303132333435363738393a-cdcecfd0d1d2d3d4\",\"span_id\":\"cdcecfd0d1d2d3d4\",\"root_span_id\":\"2b2c2d2e2f303132333435363738393a\",\"created\":\"2024-12-01T00:00:09.123456Z\",\"span_attributes\":{\"name\":\"ok\"},\"metadata\":{\"resource.service.name\":\"golden-again\",\"resource.deployment.environment\":\"test\",\"resource.process.pid\":4242},\"metrics\":{\"start\":1.733011209123457E9,\"end\":1.733011210623457E9}}\n"
    "refused 10 invalid_trace_id\n"
    "refused 11 invalid_span_id\n"
    "refused 12 invalid_parent_span_id\n"
    "refused 13 invalid_start_time\n"
    "refused 14 end_before_start\n"
    "refused 15 invalid_utf8\n"
    "refused 16 invalid_utf8\n"
    "refused 17 too_deep\n"
    "refused 18 too_deep\n"
    "refused 19 too_large\n";

TEST(OtlpGolden, RowsOfARichRequestAreUnchanged) {
  detail::EventParser parser;
  EXPECT_EQ(transcript(rich_request(), parser), kRows);
}

TEST(OtlpGolden, TightIngestLimitsRefuseTheSameSpansForTheSameReasons) {
  detail::EventParser parser(detail::IngestLimits{.max_event_bytes = 1200, .max_depth = 4});
  EXPECT_EQ(transcript(rich_request(), parser), kRowsTightLimits);
}

// The mapping writes rows without a second parse when they are within the ingest limits:
// each of those must be an event the ingest's parser takes byte for byte, with the same id.
TEST(OtlpGolden, EveryRowIsOneTheIngestParserTakesAsItIs) {
  Traces traces;
  ASSERT_FALSE(decode_otlp_request(rich_request(), Encoding::protobuf, traces));
  detail::EventParser parser;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  ASSERT_EQ(mapped.rows.size(), 12u);
  detail::EventParser checker;
  for (const PreparedRow& row : mapped.rows) {
    PreparedRow parsed;
    detail::Route route;
    const auto failure = checker.parse_row(row.json, detail::Routing::keep, parsed, route);
    ASSERT_FALSE(failure) << to_string(failure->reason) << " at " << failure->offset << ": " << row.json;
    EXPECT_EQ(parsed.json, row.json);
    EXPECT_EQ(parsed.id_offset, row.id_offset);
    EXPECT_EQ(parsed.id_size, row.id_size);
    EXPECT_EQ(parsed.is_merge, row.is_merge);
  }
}

// Every mapped row meets the repository's insert-event contract (tests/data), as rows the
// library builds do; span 0's token count sent as the double 250.0 is the integer 250.
TEST(OtlpGolden, EveryRowConformsToTheInsertContract) {
  const auto contract = testing::OpenApiSpec::load(testing::contract_path());
  ASSERT_TRUE(contract) << "missing " << testing::contract_path();
  Traces traces;
  ASSERT_FALSE(decode_otlp_request(rich_request(), Encoding::protobuf, traces));
  detail::EventParser parser;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  ASSERT_FALSE(mapped.rows.empty());
  boost::json::parse_options as_deep_as_ingest;
  as_deep_as_ingest.max_depth = parser.limits().max_depth;
  for (const std::string_view schema_name : {"ProjectLogsEvent", "ExperimentEvent"}) {
    const auto& schema = contract->schema(schema_name);
    for (std::size_t i = 0; i < mapped.rows.size(); ++i) {
      const PreparedRow& row = mapped.rows[i];
      const auto problems = contract->validate(boost::json::parse(row.json, {}, as_deep_as_ingest), schema);
      EXPECT_TRUE(problems.empty()) << schema_name << ": " << row.json
                                    << "\n first problem: " << (problems.empty() ? "" : problems.front());
    }
  }
}

}  // namespace
}  // namespace spanline::otlp
