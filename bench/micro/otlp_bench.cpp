// The OTLP trace receiver's CPU work on one core: decoding an ExportTraceServiceRequest
// (protobuf through libprotobuf, or OTLP/JSON) and mapping its spans to validated Braintrust
// rows (the mapping table writing each row's text, checked against the ingest limits), for
// spans of about 1 KB with GenAI attributes, 100 spans per request as the SDKs' batch
// processors send them.
// Target: >= 300,000 spans/s decode + map for protobuf.

#include "ingest/ndjson_parser.hpp"
#include "otlp/otlp_decode.hpp"
#include "otlp/otlp_rows.hpp"
#include "proto/otlp_trace.pb.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

namespace pb = spanline::otlp::v1;
using spanline::otlp::Encoding;

constexpr int kSpans = 100;

struct Attribute {
  std::string key;
  std::string text;  // string value, or empty for an int
  std::int64_t number = 0;
};

std::vector<Attribute> genai_attributes(int i) {
  return {
      {"gen_ai.operation.name", "chat"},
      {"gen_ai.system", "openai"},
      {"gen_ai.request.model", "gpt-4o-mini"},
      {"gen_ai.request.max_tokens", "", 512},
      {"gen_ai.response.model", "gpt-4o-mini-2024-07-18"},
      {"gen_ai.response.id", "chatcmpl-" + std::to_string(9000000 + i)},
      {"gen_ai.input.messages",
       R"([{"role":"system","content":"You are a support assistant. Answer briefly."},)"
       R"({"role":"user","content":"Summarize the last three tickets for account 4411 and suggest the next action to take."}])"},
      {"gen_ai.output.messages",
       R"([{"role":"assistant","content":"Two duplicate charges and one login issue. Refund the duplicate charge, )"
       R"(reset the password and confirm both by email."}])"},
      {"gen_ai.usage.input_tokens", "", 212},
      {"gen_ai.usage.output_tokens", "", 38},
      {"server.address", "api.openai.com"},
      {"http.response.status_code", "", 200},
      {"app.tenant", "tenant-" + std::to_string(i % 17)},
  };
}

std::string id_bytes(std::size_t size, int seed) {
  std::string out(size, '\0');
  for (std::size_t b = 0; b < size; ++b)
    out[b] = static_cast<char>((seed * 31 + static_cast<int>(b) * 7 + 1) & 0xFF);
  return out;
}

std::string hex(std::string_view bytes) {
  std::string out;
  spanline::otlp::append_hex(out, bytes);
  return out;
}

std::string protobuf_request() {
  pb::ExportTraceServiceRequest request;
  auto* resource_spans = request.add_resource_spans();
  auto* service = resource_spans->mutable_resource()->add_attributes();
  service->set_key("service.name");
  service->mutable_value()->set_string_value("support-bot");
  auto* scope = resource_spans->add_scope_spans();
  scope->mutable_scope()->set_name("opentelemetry.instrumentation.openai");
  for (int i = 0; i < kSpans; ++i) {
    auto* span = scope->add_spans();
    span->set_trace_id(id_bytes(16, i / 4));
    span->set_span_id(id_bytes(8, i + 1000));
    if (i % 4 != 0) span->set_parent_span_id(id_bytes(8, (i / 4) * 4 + 1000));
    span->set_name("chat gpt-4o-mini");
    span->set_kind(3);
    span->set_start_time_unix_nano(1'732'806'018'123'456'789u + static_cast<std::uint64_t>(i) * 1000);
    span->set_end_time_unix_nano(1'732'806'019'004'211'000u + static_cast<std::uint64_t>(i) * 1000);
    for (const Attribute& a : genai_attributes(i)) {
      auto* kv = span->add_attributes();
      kv->set_key(a.key);
      if (a.text.empty())
        kv->mutable_value()->set_int_value(a.number);
      else
        kv->mutable_value()->set_string_value(a.text);
    }
  }
  return request.SerializeAsString();
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string json_request() {
  std::string out =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"support-bot"}}]},)"
      R"("scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai"},"spans":[)";
  for (int i = 0; i < kSpans; ++i) {
    if (i > 0) out += ',';
    out +=
        R"({"traceId":")" + hex(id_bytes(16, i / 4)) + R"(","spanId":")" + hex(id_bytes(8, i + 1000)) + '"';
    if (i % 4 != 0) out += R"(,"parentSpanId":")" + hex(id_bytes(8, (i / 4) * 4 + 1000)) + '"';
    out += R"(,"name":"chat gpt-4o-mini","kind":3,"startTimeUnixNano":")" +
           std::to_string(1'732'806'018'123'456'789u + static_cast<std::uint64_t>(i) * 1000) +
           R"(","endTimeUnixNano":")" +
           std::to_string(1'732'806'019'004'211'000u + static_cast<std::uint64_t>(i) * 1000) +
           R"(","attributes":[)";
    bool first = true;
    for (const Attribute& a : genai_attributes(i)) {
      if (!first) out += ',';
      first = false;
      out += R"({"key":")" + a.key + R"(","value":)";
      out += a.text.empty() ? R"({"intValue":")" + std::to_string(a.number) + "\"}"
                            : R"({"stringValue":)" + quoted(a.text) + "}";
      out += '}';
    }
    out += "]}";
  }
  out += "]}]}]}";
  return out;
}

void decode_only(benchmark::State& state, Encoding encoding) {
  const std::string body = encoding == Encoding::protobuf ? protobuf_request() : json_request();
  spanline::otlp::Traces traces;
  for (auto _ : state) {
    if (spanline::otlp::decode_otlp_request(body, encoding, traces)) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(traces.spans.data());
  }
  state.SetItemsProcessed(state.iterations() * kSpans);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
  state.counters["bytes_per_span"] = static_cast<double>(body.size()) / kSpans;
}

void decode_and_map(benchmark::State& state, Encoding encoding) {
  const std::string body = encoding == Encoding::protobuf ? protobuf_request() : json_request();
  spanline::otlp::Traces traces;
  spanline::otlp::MappedSpans mapped;
  spanline::detail::EventParser parser;
  std::size_t row_bytes = 0;
  for (auto _ : state) {
    mapped.clear();
    if (spanline::otlp::decode_otlp_request(body, encoding, traces)) state.SkipWithError("decode failed");
    spanline::otlp::map_spans(traces, parser, mapped);
    if (mapped.rows.size() != kSpans) state.SkipWithError("spans refused");
    row_bytes = mapped.rows.front().json.size();
    benchmark::DoNotOptimize(mapped.rows.data());
  }
  state.SetItemsProcessed(state.iterations() * kSpans);
  state.counters["bytes_per_span"] = static_cast<double>(body.size()) / kSpans;
  state.counters["row_bytes"] = static_cast<double>(row_bytes);
}

void BM_OtlpDecodeProtobuf(benchmark::State& state) { decode_only(state, Encoding::protobuf); }
void BM_OtlpDecodeJson(benchmark::State& state) { decode_only(state, Encoding::json); }
void BM_OtlpDecodeMapProtobuf(benchmark::State& state) { decode_and_map(state, Encoding::protobuf); }
void BM_OtlpDecodeMapJson(benchmark::State& state) { decode_and_map(state, Encoding::json); }

BENCHMARK(BM_OtlpDecodeProtobuf);
BENCHMARK(BM_OtlpDecodeJson);
BENCHMARK(BM_OtlpDecodeMapProtobuf);
BENCHMARK(BM_OtlpDecodeMapJson);

}  // namespace
