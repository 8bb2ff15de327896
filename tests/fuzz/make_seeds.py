#!/usr/bin/env python3
"""Writes the hand-made seed corpora under tests/fuzz/corpus/<target>/ (committed).
Run again after changing a seed; regression inputs found by fuzzing are committed
beside these, named regression-*, and are not touched here."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def write(target: str, name: str, data: bytes) -> None:
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# ndjson_event: one padding byte (repeated after the event; its low bit picks routing
# keep), then the event.
events = {
    "plain": b'{"id":"r1","input":{"q":"hi"},"output":[1,2.5,-3e2,true,false,null]}',
    "routed": b'{"project_id":"p-1","id":"r2","metadata":{"k":"v"}}',
    "named": b'{"project_name":"my proj","input":"x","_is_merge":true}',
    "no-id": b'  {"experiment_id":"e1","scores":{"acc":0.5}}\r',
    "escapes": b'{"id":"a\\"b\\u00e9","s":"tab\\t nl\\n \\ud83d\\ude00","k\\u0065y":1}',
    "unbalanced-id": b'{"id":[}',
    "two-destinations": b'{"project_id":"a","dataset_id":"b"}',
    "deep": b'{"a":' * 10 + b"1" + b"}" * 10,
    "big-numbers": b'{"n":[12345678901234567890,1e308,-0.0,0.000001,1E+2]}',
}
for i, (name, event) in enumerate(events.items()):
    padding = b"}]\x00 ,\"x\\{"[i % 9 : i % 9 + 1]
    write("ndjson_event", name, padding + event)

# insert_body: a Braintrust insert body.
bodies = {
    "two-events": b'{"events":[{"id":"a","input":1},{"output":"x","_is_merge":false}]}',
    "empty": b'{"events":[]}',
    "other-keys": b'{"meta":{"x":[1,2]},"events":[{"id":"z"}],"more":null}',
    "bad-event": b'{"events":[{"id":"a"},[1],{"id":5}]}',
    "bad-utf8": b'{"events":[{"id":"a"},{"s":"\xff"}]}',
    "not-array": b'{"events":{"id":"a"}}',
}
for name, body in bodies.items():
    write("insert_body", name, body)


# segment_scanner: one mode byte (bit 0: repair CRCs, bit 1: limit short of the file),
# then the segment file.
def record(key: bytes, payload: bytes, encoding: int = 0, rows: int = 1) -> bytes:
    body = struct.pack("<BBHIIq", encoding, 0, len(key), rows, len(payload), 1796644800000) + key + payload
    length = struct.pack("<I", len(body))
    return b"SPLR" + length + struct.pack("<I", crc32c(length + body)) + body


header = b"SPLSPOOL" + struct.pack("<II", 1, 0)
first = record(b"project_logs:p1", b'{"events":[{"id":"a"}]}')
second = record(b"experiment:e1", b'{"events":[{"id":"b"},{"id":"c"}]}', rows=2)
write("segment_scanner", "two-records", b"\x00" + header + first + second)
write("segment_scanner", "truncated-tail", b"\x00" + header + first + second[:-5])
damaged = bytearray(first)
damaged[30] ^= 0xFF
write("segment_scanner", "damaged-then-good", b"\x00" + header + bytes(damaged) + second)
write("segment_scanner", "crc-repaired", b"\x01" + header + first[:8] + b"\x00\x00\x00\x00" + first[12:])
write("segment_scanner", "short-limit", b"\x02" + header + first + second)
write("segment_scanner", "unknown-version", b"\x00" + b"SPLSPOOL" + struct.pack("<II", 7, 0) + first)
write("segment_scanner", "header-only", b"\x00" + header[:10])

# retry_after: a Retry-After header value.
for i, value in enumerate([b"120", b"0", b"Wed, 21 Oct 2026 07:28:00 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT",
                           b"Sun Nov  6 08:49:37 1994", b"99999999999999999999", b" 5 ", b"-1"]):
    write("retry_after", f"seed-{i}", value)

# base_url: an api_url setting.
for i, value in enumerate([b"https://api.braintrust.dev", b"http://127.0.0.1:8080/bt/", b"https://[::1]:8443",
                           b"http://ex%41mple.com", b"https://user@host", b"ftp://x", b"http://host:99999",
                           b"HTTPS://Host.Example:443/a/b//"]):
    write("base_url", f"seed-{i}", value)

# logs3_body: /logs3 bodies as the official SDKs send them.
logs3 = {
    "project-logs": b'{"rows":[{"id":"r1","project_id":"p-1","log_id":"g","input":"q","span_id":"s1",'
                    b'"root_span_id":"s1","_is_merge":false}],"api_version":2}',
    "experiment-merge": b'{"rows":[{"id":"r2","experiment_id":"e-1","output":"a","_is_merge":true,'
                        b'"_merge_paths":[["metadata"]]}],"api_version":2}',
    "dataset-delete": b'{"rows":[{"id":"r3","dataset_id":"d-1","_object_delete":true}],"api_version":2}',
    "mixed": b'{"api_version":2,"rows":[{"id":"a","project_id":"p","log_id":"g"},{"id":"b","dataset_id":"d"}]}',
    "bad-version": b'{"rows":[],"api_version":1}',
    "overflow-ref": b'{"rows":{"type":"logs3_overflow","key":"k"},"api_version":2}',
}
for name, body in logs3.items():
    write("logs3_body", name, body)


# otlp_request: the first byte picks the encoding (even: protobuf, odd: JSON).
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def fixed64(n: int) -> bytes:
    return struct.pack("<Q", n)


def any_string(text: bytes) -> bytes:
    return field(1, 2, text)  # AnyValue.string_value


def attribute(key: bytes, value: bytes) -> bytes:
    return field(1, 2, key) + field(2, 2, value)  # KeyValue{key, value}


span = (field(1, 2, bytes(range(1, 17)))              # trace_id
        + field(2, 2, bytes(range(1, 9)))             # span_id
        + field(5, 2, b"chat gpt-4o-mini")            # name
        + field(7, 1, fixed64(1_700_000_000_000_000_000))  # start_time_unix_nano
        + field(8, 1, fixed64(1_700_000_001_000_000_000))  # end_time_unix_nano
        + field(9, 2, attribute(b"gen_ai.operation.name", any_string(b"chat")))
        + field(9, 2, attribute(b"gen_ai.usage.input_tokens", field(3, 0, varint(12)))))
child = (field(1, 2, bytes(range(1, 17))) + field(2, 2, bytes(range(9, 17))) + field(4, 2, bytes(range(1, 9)))
         + field(5, 2, b"tool") + field(7, 1, fixed64(1_700_000_000_100_000_000))
         + field(8, 1, fixed64(1_700_000_000_200_000_000)))
scope_spans = field(2, 2, span) + field(2, 2, child)
resource = field(1, 2, attribute(b"service.name", any_string(b"svc")))
resource_spans = field(1, 2, resource) + field(2, 2, scope_spans)
write("otlp_request", "protobuf-two-spans", b"\x00" + field(1, 2, resource_spans))
write("otlp_request", "json-one-span", b"\x01" + (
    b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},'
    b'"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",'
    b'"name":"chat","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1700000000000000000",'
    b'"endTimeUnixNano":1700000001000000000,"status":{"code":2,"message":"boom"},'
    b'"attributes":[{"key":"gen_ai.prompt","value":{"stringValue":"hi"}}],'
    b'"events":[{"name":"gen_ai.choice","attributes":[{"key":"message","value":{"stringValue":"yo"}}]}]}]}]}]}'))
write("otlp_request", "json-bad-ids", b"\x01" + b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":""}]}]}]}')
