// Exports one small GenAI trace with the official OpenTelemetry JS SDK to an OTLP/HTTP
// endpoint: a parent LLM span and two children (a tool call that fails, a plain step).
// The finished spans are exported with the protobuf exporter (gzip) and the JSON exporter,
// each twice, so the receiver sees the same spans four times: retries must overwrite.
//
// Usage: SPANLINE_OTLP_TOKEN=<key> node export_trace.mjs <endpoint, e.g. http://127.0.0.1:8787/v1/traces> <x-bt-parent or "">
// Prints one line per export ("export protobuf 0: <result code>"), then one per span
// ("span <trace id> <span id> <name>"), and exits non-zero when an export failed.
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';

const [endpoint, parent] = process.argv.slice(2);
if (!endpoint) {
  console.error('usage: node export_trace.mjs <endpoint> [x-bt-parent]');
  process.exit(2);
}
const headers = parent ? { 'x-bt-parent': parent } : {};
// spanlined's HTTP ingest wants a bearer token, as Braintrust's own OTLP endpoint does.
if (process.env.SPANLINE_OTLP_TOKEN) headers.Authorization = `Bearer ${process.env.SPANLINE_OTLP_TOKEN}`;

const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
const tracer = provider.getTracer('spanline-otel-e2e', '1.0.0');

const llm = tracer.startSpan('chat gpt-4o-mini', {
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.system': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.request.temperature': 0.2,
    'gen_ai.input.messages': JSON.stringify([{ role: 'user', content: 'Weather in Paris?' }]),
    'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', content: 'Sunny, 21 C.' }]),
    'gen_ai.usage.input_tokens': 14,
    'gen_ai.usage.output_tokens': 6,
    'braintrust.tags': ['e2e'],
    'app.user': 'u-42',
  },
});
const inside = trace.setSpan(context.active(), llm);
const tool = tracer.startSpan('execute_tool get_weather', {
  attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather' },
}, inside);
tool.setStatus({ code: SpanStatusCode.ERROR, message: 'weather service timed out' });
tool.end();
const step = tracer.startSpan('format answer', { attributes: { 'braintrust.output_json': '{"text":"Sunny, 21 C."}' } }, inside);
step.end();
llm.end();

await provider.forceFlush();
const spans = memory.getFinishedSpans();
if (spans.length !== 3) {
  console.error(`expected 3 finished spans, got ${spans.length}`);
  process.exit(1);
}

function exportWith(exporter, label) {
  return new Promise((resolve) => {
    exporter.export(spans, (result) => {
      console.log(`export ${label}: ${result.code}${result.error ? ' ' + result.error.message : ''}`);
      resolve(result.code === 0);
    });
  });
}

const exporters = [
  [new ProtobufExporter({ url: endpoint, headers, compression: 'gzip' }), 'protobuf'],
  [new JsonExporter({ url: endpoint, headers }), 'json'],
];
let ok = true;
for (const [exporter, label] of exporters) {
  for (let attempt = 0; attempt < 2; ++attempt) ok = (await exportWith(exporter, `${label} ${attempt}`)) && ok;
  await exporter.shutdown();
}
for (const span of spans) console.log(`span ${span.spanContext().traceId} ${span.spanContext().spanId} ${span.name}`);
process.exit(ok ? 0 : 1);
