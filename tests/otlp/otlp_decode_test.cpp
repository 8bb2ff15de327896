#include "otlp/otlp_decode.hpp"

#include "ingest/ndjson_parser.hpp"
#include "otlp/otlp_response.hpp"
#include "otlp/otlp_rows.hpp"
#include "proto/otlp_trace.pb.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spanline::otlp {
namespace {

namespace pb = spanline::otlp::v1;

// One trace, three spans (a parent LLM span, two children), built in protobuf with the
// generated classes and written by hand in OTLP/JSON: both must decode to the same rows.
void add_string(google::protobuf::RepeatedPtrField<pb::KeyValue>* attributes, const std::string& key,
                const std::string& value) {
  pb::KeyValue* kv = attributes->Add();
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

std::string protobuf_request() {
  pb::ExportTraceServiceRequest request;
  pb::ResourceSpans* resource_spans = request.add_resource_spans();
  add_string(resource_spans->mutable_resource()->mutable_attributes(), "service.name", "chatbot");
  pb::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
  scope_spans->mutable_scope()->set_name("test-scope");
  const std::string trace("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16);

  pb::Span* parent = scope_spans->add_spans();
  parent->set_trace_id(trace);
  parent->set_span_id(std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  parent->set_name("chat gpt-4o");
  parent->set_kind(3);
  parent->set_start_time_unix_nano(1544712660000000000u);
  parent->set_end_time_unix_nano(1544712661000000000u);
  add_string(parent->mutable_attributes(), "gen_ai.operation.name", "chat");
  add_string(parent->mutable_attributes(), "gen_ai.request.model", "gpt-4o");
  add_string(parent->mutable_attributes(), "gen_ai.input.messages", R"([{"role":"user","content":"hi"}])");
  pb::KeyValue* tokens = parent->add_attributes();
  tokens->set_key("gen_ai.usage.input_tokens");
  tokens->mutable_value()->set_int_value(12);
  pb::KeyValue* temperature = parent->add_attributes();
  temperature->set_key("gen_ai.request.temperature");
  temperature->mutable_value()->set_double_value(0.25);
  pb::KeyValue* list = parent->add_attributes();
  list->set_key("list");
  list->mutable_value()->mutable_array_value()->add_values()->set_bool_value(true);
  list->mutable_value()->mutable_array_value()->add_values()->set_bytes_value("hi!");
  pb::KeyValue* nested = parent->add_attributes();
  nested->set_key("nested");
  add_string(nested->mutable_value()->mutable_kvlist_value()->mutable_values(), "k", "v");
  pb::Span::Event* event = parent->add_events();
  event->set_name("gen_ai.choice");
  event->set_time_unix_nano(1544712660500000000u);
  add_string(event->mutable_attributes(), "finish_reason", "stop");

  pb::Span* tool = scope_spans->add_spans();
  tool->set_trace_id(trace);
  tool->set_span_id(std::string("\x00\x00\x00\x00\x00\x00\x00\x01", 8));
  tool->set_parent_span_id(std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  tool->set_name("execute_tool search");
  tool->set_start_time_unix_nano(1544712660100000000u);
  tool->set_end_time_unix_nano(1544712660200000000u);
  add_string(tool->mutable_attributes(), "gen_ai.operation.name", "execute_tool");
  tool->mutable_status()->set_code(2);
  tool->mutable_status()->set_message("tool failed");

  pb::Span* child = scope_spans->add_spans();
  child->set_trace_id(trace);
  child->set_span_id(std::string("\x00\x00\x00\x00\x00\x00\x00\x02", 8));
  child->set_parent_span_id(std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  child->set_name("format");
  child->set_start_time_unix_nano(1544712660300000000u);
  child->set_end_time_unix_nano(1544712660400000000u);
  return request.SerializeAsString();
}

// The same request in OTLP/JSON, using the encodings the specification allows: upper-case
// hex, enums by name and by number, 64-bit integers as strings and as numbers.
const char* kJsonRequest = R"({
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chatbot"}}]},
    "schemaUrl": "ignored",
    "scopeSpans": [{
      "scope": {"name": "test-scope", "version": null},
      "spans": [
        {"traceId": "0AF7651916CD43DD8448EB211C80319C", "spanId": "b7ad6b7169203331", "name": "chat gpt-4o",
         "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
         "attributes": [
           {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
           {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
           {"key": "gen_ai.input.messages", "value": {"stringValue": "[{\"role\":\"user\",\"content\":\"hi\"}]"}},
           {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
           {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.25}},
           {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": true}, {"bytesValue": "aGkh"}]}}},
           {"key": "nested", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}}
         ],
         "events": [{"timeUnixNano": "1544712660500000000", "name": "gen_ai.choice",
                     "attributes": [{"key": "finish_reason", "value": {"stringValue": "stop"}}]}],
         "links": [], "droppedAttributesCount": 0, "flags": 257},
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000001", "parentSpanId": "b7ad6b7169203331",
         "name": "execute_tool search", "startTimeUnixNano": 1544712660100000000, "endTimeUnixNano": "1544712660200000000",
         "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}}],
         "status": {"code": "STATUS_CODE_ERROR", "message": "tool failed"}},
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000002", "parentSpanId": "b7ad6b7169203331",
         "name": "format", "kind": 0, "startTimeUnixNano": "1544712660300000000", "endTimeUnixNano": "1544712660400000000",
         "status": {"code": 0}}
      ]
    }]
  }]
})";

std::vector<std::string> rows_of(std::string_view body, Encoding encoding) {
  Traces traces;
  const auto error = decode_otlp_request(body, encoding, traces);
  EXPECT_FALSE(error) << error->message;
  detail::EventParser parser;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  EXPECT_TRUE(mapped.refused.empty());
  std::vector<std::string> rows;
  for (const auto& row : mapped.rows) rows.push_back(row.json);
  return rows;
}

TEST(OtlpDecode, ProtobufAndJsonOfTheSameTraceGiveIdenticalRows) {
  const auto from_protobuf = rows_of(protobuf_request(), Encoding::protobuf);
  const auto from_json = rows_of(kJsonRequest, Encoding::json);
  ASSERT_EQ(from_protobuf.size(), 3u);
  EXPECT_EQ(from_protobuf, from_json);
  EXPECT_NE(from_protobuf[0].find(R"("root_span_id":"0af7651916cd43dd8448eb211c80319c")"), std::string::npos)
      << from_protobuf[0];
  EXPECT_NE(from_protobuf[0].find(R"("list":[true,"aGkh"])"), std::string::npos) << from_protobuf[0];
  EXPECT_NE(from_protobuf[1].find(R"("error":"tool failed")"), std::string::npos) << from_protobuf[1];
  EXPECT_NE(from_protobuf[2].find(R"("span_parents":["b7ad6b7169203331"])"), std::string::npos);
}

// The protobuf decoder reuses its parsed message from request to request on a thread (and
// parses large bodies apart): what one request left behind never shows in the next.
TEST(OtlpDecode, ProtobufRequestsInARowDecodeAsEachAlone) {
  const std::string first = protobuf_request();
  pb::ExportTraceServiceRequest other;
  pb::Span* span = other.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string(16, '\x07'));
  span->set_span_id(std::string(8, '\x09'));
  span->set_start_time_unix_nano(1);
  for (int i = 0; i < 20; ++i) add_string(span->mutable_attributes(), "key." + std::to_string(i), "value");
  span->add_events()->set_name("gen_ai.user.message");
  span->mutable_status()->set_code(2);
  pb::ExportTraceServiceRequest large = other;  // over the size parsed into the reused message
  pb::KeyValue* big = large.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->add_attributes();
  big->set_key("big");
  big->mutable_value()->set_string_value(std::string(300 * 1024, 'x'));

  const auto alone = rows_of(first, Encoding::protobuf);
  const auto other_alone = rows_of(other.SerializeAsString(), Encoding::protobuf);
  EXPECT_EQ(rows_of(large.SerializeAsString(), Encoding::protobuf).size(), 1u);
  EXPECT_EQ(rows_of(first, Encoding::protobuf), alone);
  EXPECT_EQ(rows_of(other.SerializeAsString(), Encoding::protobuf), other_alone);
  EXPECT_EQ(rows_of(first, Encoding::protobuf), alone);
  Traces traces;
  ASSERT_FALSE(decode_protobuf(first, traces));
  ASSERT_FALSE(decode_protobuf(std::string_view(), traces));  // empty: no spans, nothing left over
  EXPECT_TRUE(traces.spans.empty());
}

TEST(OtlpDecode, ProtobufDecodesTheFieldsSpanlineReads) {
  Traces traces;
  ASSERT_FALSE(decode_protobuf(protobuf_request(), traces));
  ASSERT_EQ(traces.spans.size(), 3u);
  ASSERT_EQ(traces.resources.size(), 1u);
  EXPECT_EQ(traces.scopes.at(0).name, "test-scope");
  const Span& parent = traces.spans[0];
  EXPECT_EQ(parent.kind, 3);
  EXPECT_EQ(parent.start_time_unix_nano, 1544712660000000000u);
  EXPECT_EQ(parent.attributes.size(), 7u);
  EXPECT_EQ(parent.events.at(0).name, "gen_ai.choice");
  EXPECT_EQ(traces.spans[1].status_code, 2);
}

TEST(OtlpDecode, ProtobufUnknownFieldsAreSkipped) {
  std::string body = protobuf_request();
  // Request field 99 (varint) and field 100 (length-delimited): unknown, not an error.
  body += std::string("\x98\x06\x05", 3);
  body += std::string("\xa2\x06\x03xyz", 6);
  Traces traces;
  ASSERT_FALSE(decode_protobuf(body, traces));
  EXPECT_EQ(traces.spans.size(), 3u);
}

TEST(OtlpDecode, MalformedProtobufIsAnErrorNeverACrash) {
  Traces traces;
  // A length-delimited field whose length runs past the end.
  EXPECT_TRUE(decode_protobuf(std::string("\x0a\x10\x0a", 3), traces));
  // A length of 2^35 (huge).
  EXPECT_TRUE(decode_protobuf(std::string("\x0a\xff\xff\xff\xff\x7f", 6), traces));
  // A wire type that does not exist (6, 7), and an end-group tag with no group open.
  EXPECT_TRUE(decode_protobuf(std::string("\x0e", 1), traces));
  EXPECT_TRUE(decode_protobuf(std::string("\x0c", 1), traces));
  // Wire type 7 does not exist.
  EXPECT_TRUE(decode_protobuf(std::string("\x0f", 1), traces));
  // Every truncation of a valid request: decoded or refused, never a crash.
  const std::string body = protobuf_request();
  std::size_t refused = 0;
  for (std::size_t size = 0; size < body.size(); ++size) {
    if (decode_otlp_request(std::string_view(body).substr(0, size), Encoding::protobuf, traces)) ++refused;
  }
  EXPECT_GT(refused, body.size() / 2);
}

// A known field sent with another wire type is an unknown field to protobuf (skipped, as
// the specification says): the request decodes, and a span that lost its ids that way is
// refused alone by the mapping.
TEST(OtlpDecode, ProtobufFieldWithTheWrongWireTypeIsSkipped) {
  Traces traces;
  ASSERT_FALSE(decode_protobuf(std::string("\x08\x01", 2), traces));  // resource_spans as a varint
  EXPECT_TRUE(traces.spans.empty());

  pb::ExportTraceServiceRequest request;
  pb::Span* span = request.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_span_id(std::string(8, '\x01'));
  span->set_start_time_unix_nano(1);
  std::string body = request.SerializeAsString();
  // Append trace_id (field 1) as a varint inside the span: rebuild the nesting by hand.
  const std::string span_bytes = span->SerializeAsString() + std::string("\x08\x05", 2);
  const std::string scope_bytes = "\x12" + std::string(1, static_cast<char>(span_bytes.size())) + span_bytes;
  const std::string resource_bytes =
      "\x12" + std::string(1, static_cast<char>(scope_bytes.size())) + scope_bytes;
  body = "\x0a" + std::string(1, static_cast<char>(resource_bytes.size())) + resource_bytes;
  ASSERT_FALSE(decode_protobuf(body, traces));
  ASSERT_EQ(traces.spans.size(), 1u);
  EXPECT_TRUE(traces.spans[0].trace_id.empty());
  EXPECT_EQ(validate_span(traces.spans[0]), SpanRejection::invalid_trace_id);
}

TEST(OtlpDecode, EmptyBodiesAreEmptyRequests) {
  Traces traces;
  EXPECT_FALSE(decode_protobuf("", traces));
  EXPECT_FALSE(decode_json("{}", traces));
  EXPECT_TRUE(traces.spans.empty());
}

TEST(OtlpDecode, JsonWithWrongTypesIsAnErrorNamingThePath) {
  const std::pair<const char*, const char*> cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "expected an object"},
      {R"({"resourceSpans": {}})", "resourceSpans: expected an array"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]})",
       "resourceSpans[0].scopeSpans[0].spans[0].name: expected a string"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 1}]}]}]})", "traceId: expected a string"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]})",
       "startTimeUnixNano: expected an unsigned 64-bit integer"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": -1}]}]}]})",
       "startTimeUnixNano: expected an unsigned 64-bit integer"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SPAN_KIND_NOPE"}]}]}]})", "unknown enum"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": {}}]}]}]})",
       "attributes: expected an array"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "a", "value": {"intValue": 1.5}}]}]}]}]})",
       "attributes[0].value.intValue: expected a 64-bit integer"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "a", "value": {"bytesValue": "%%"}}]}]}]}]})",
       "expected base64"},
      {R"({"resourceSpans": [{"scopeSpans": [{"spans": [{"status": {"code": true}}]}]}]})", "status.code"},
  };
  for (const auto& [body, expected] : cases) {
    Traces traces;
    const auto error = decode_json(body, traces);
    ASSERT_TRUE(error) << body;
    EXPECT_NE(error->message.find(expected), std::string::npos) << body << " -> " << error->message;
  }
}

TEST(OtlpDecode, JsonTooDeepIsAnError) {
  std::string body = R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":)";
  for (int i = 0; i < 400; ++i) body += R"({"arrayValue":{"values":[)";
  for (int i = 0; i < 400; ++i) body += "]}}";
  body += "}]}]}]}]}";
  Traces traces;
  EXPECT_TRUE(decode_json(body, traces));
}

TEST(OtlpDecode, JsonIdsThatAreNotHexRefuseTheirSpanAlone) {
  const char* body = R"({"resourceSpans": [{"scopeSpans": [{"spans": [
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000001", "startTimeUnixNano": "1"},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "zz00000000000002", "startTimeUnixNano": "1"},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000003", "startTimeUnixNano": "5",
     "endTimeUnixNano": "4"},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000004", "startTimeUnixNano": "1"}
  ]}]}]})";
  Traces traces;
  ASSERT_FALSE(decode_json(body, traces));
  detail::EventParser parser;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  ASSERT_EQ(mapped.rows.size(), 2u);
  ASSERT_EQ(mapped.refused.size(), 2u);
  EXPECT_EQ(mapped.refused[0].index, 1u);
  EXPECT_EQ(mapped.refused[0].reason, SpanRejection::invalid_span_id);
  EXPECT_EQ(mapped.refused[1].index, 2u);
  EXPECT_EQ(mapped.refused[1].reason, SpanRejection::end_before_start);
  EXPECT_EQ(refusal_message(traces, mapped.refused),
            "2 spans refused: 1 invalid_span_id, 1 end_before_start (span 1 invalid_span_id, span 2 "
            "0000000000000003 end_before_start)");
}

// Deterministic mutations of valid bodies (flipped, dropped and repeated bytes): every one
// decodes or is refused, and whatever decodes maps to rows or refusals. Under the
// sanitizers this catches out-of-bounds reads a crash would not show.
TEST(OtlpDecode, MutatedBodiesNeverCrashDecodeOrMapping) {
  std::uint64_t state = 0x9E3779B97F4A7C15u;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  detail::EventParser parser;
  Traces traces;
  MappedSpans mapped;
  std::size_t decoded = 0;
  for (const auto& [original, encoding] : {std::pair{protobuf_request(), Encoding::protobuf},
                                           std::pair{std::string(kJsonRequest), Encoding::json}}) {
    for (int round = 0; round < 1500; ++round) {
      std::string body = original;
      const int edits = 1 + static_cast<int>(next() % 4);
      for (int e = 0; e < edits && !body.empty(); ++e) {
        const std::size_t at = next() % body.size();
        switch (next() % 3) {
          case 0:
            body[at] = static_cast<char>(next());
            break;
          case 1:
            body.erase(at, 1 + next() % 8);
            break;
          default:
            body.insert(at, body.substr(at, 1 + next() % 16));
            break;
        }
      }
      if (decode_otlp_request(body, encoding, traces)) continue;
      ++decoded;
      mapped.clear();
      map_spans(traces, parser, mapped);
      EXPECT_EQ(mapped.rows.size() + mapped.refused.size(), traces.spans.size());
    }
  }
  EXPECT_GT(decoded, 0u);
}

TEST(OtlpRows, RowsOverTheEventLimitAreRefusedAlone) {
  Traces traces;
  ASSERT_FALSE(decode_protobuf(protobuf_request(), traces));
  traces.spans[1].attributes.push_back(KeyValue{"big", AnyValue::of_string(std::string(4096, 'x'))});
  detail::EventParser parser(detail::IngestLimits{.max_event_bytes = 2048});
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  EXPECT_EQ(mapped.rows.size(), 2u);
  ASSERT_EQ(mapped.refused.size(), 1u);
  EXPECT_EQ(mapped.refused[0].reason, SpanRejection::too_large);
}

TEST(OtlpRows, InvalidUtf8IsRefusedAlone) {
  Traces traces;
  ASSERT_FALSE(decode_protobuf(protobuf_request(), traces));
  traces.spans[0].name = "bad \xff name";
  detail::EventParser parser;
  MappedSpans mapped;
  map_spans(traces, parser, mapped);
  EXPECT_EQ(mapped.rows.size(), 2u);
  ASSERT_EQ(mapped.refused.size(), 1u);
  EXPECT_EQ(mapped.refused[0].reason, SpanRejection::invalid_utf8);
}

TEST(OtlpResponse, PartialSuccessInBothEncodings) {
  EXPECT_EQ(export_response(Encoding::json, 0, ""), "{}");
  EXPECT_EQ(export_response(Encoding::json, 2, "2 spans \"refused\""),
            R"({"partialSuccess":{"rejectedSpans":"2","errorMessage":"2 spans \"refused\""}})");
  EXPECT_EQ(export_response(Encoding::protobuf, 0, ""), "");
  pb::ExportTraceServiceResponse response;
  ASSERT_TRUE(response.ParseFromString(export_response(Encoding::protobuf, 3, "why")));
  EXPECT_EQ(response.partial_success().rejected_spans(), 3);
  EXPECT_EQ(response.partial_success().error_message(), "why");
  pb::RpcStatus status;
  ASSERT_TRUE(status.ParseFromString(error_status(Encoding::protobuf, 3, "bad body")));
  EXPECT_EQ(status.code(), 3);
  EXPECT_EQ(status.message(), "bad body");
  EXPECT_EQ(error_status(Encoding::json, 3, "bad"), R"({"code":3,"message":"bad"})");
}

}  // namespace
}  // namespace spanline::otlp
