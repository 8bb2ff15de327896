#!/usr/bin/env python3
"""Logs a span with a child span, a merge update and a score through spanlined's Unix
socket, with nothing but the standard library. The event format is in
docs/sidecar-protocol.md.

    SPANLINE_SOCKET=/run/spanline/spanlined.sock python3 spanline_client.py

Prints the ids it used as one JSON object: {"project_name", "root_id", "child_id"}.
"""
import json
import os
import socket
import time
import uuid

SOCKET_PATH = os.environ.get("SPANLINE_SOCKET", "/run/spanline/spanlined.sock")
PROJECT_NAME = os.environ.get("SPANLINE_PROJECT_NAME", "spanline-example")


def event(**fields):
    """One NDJSON line: compact JSON and a newline. The routing key tells spanlined
    which project the row goes to; it is removed before the row is sent upstream."""
    return (json.dumps({"project_name": PROJECT_NAME, **fields}, separators=(",", ":")) + "\n").encode()


def main():
    root_id, root_span = str(uuid.uuid4()), str(uuid.uuid4())
    child_id, child_span = str(uuid.uuid4()), str(uuid.uuid4())
    now = time.time()

    lines = [
        # The root span: a full row. Its id is the row id every later merge names.
        event(id=root_id, span_id=root_span, root_span_id=root_span,
              span_attributes={"name": "chat", "type": "llm"},
              input={"question": "What is 2 + 2?"}, metrics={"start": now}),
        # A child span: same root_span_id, the parent in span_parents.
        event(id=child_id, span_id=child_span, root_span_id=root_span, span_parents=[root_span],
              span_attributes={"name": "calculator", "type": "tool"},
              input={"expression": "2+2"}, output=4, metrics={"start": now, "end": now + 0.001}),
        # Merge updates into the root row: its output, then its score and end time.
        event(id=root_id, _is_merge=True, output={"answer": "4"}, metrics={"completion_tokens": 1}),
        event(id=root_id, _is_merge=True, scores={"correct": 1.0}, metrics={"end": time.time()}),
    ]

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(SOCKET_PATH)
        conn.sendall(b"".join(lines))
    print(json.dumps({"project_name": PROJECT_NAME, "root_id": root_id, "child_id": child_id}))


if __name__ == "__main__":
    main()
