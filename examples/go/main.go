// Command spanline-client logs a span with a child span, a merge update and a score
// through spanlined's Unix socket, with the standard library only. The event format
// is in docs/sidecar-protocol.md.
//
//	SPANLINE_SOCKET=/run/spanline/spanlined.sock go run .
//
// It prints the ids it used as one JSON object: {"project_name", "root_id", "child_id"}.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"
)

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func main() {
	socketPath := envOr("SPANLINE_SOCKET", "/run/spanline/spanlined.sock")
	projectName := envOr("SPANLINE_PROJECT_NAME", "spanline-example")
	rootID, rootSpan := newUUID(), newUUID()
	childID, childSpan := newUUID(), newUUID()
	now := unixSeconds(time.Now())

	events := []map[string]any{
		// The root span: a full row. Its id is the row id every later merge names.
		{"id": rootID, "span_id": rootSpan, "root_span_id": rootSpan,
			"span_attributes": map[string]any{"name": "chat", "type": "llm"},
			"input":           map[string]any{"question": "What is 2 + 2?"},
			"metrics":         map[string]any{"start": now}},
		// A child span: same root_span_id, the parent in span_parents.
		{"id": childID, "span_id": childSpan, "root_span_id": rootSpan, "span_parents": []string{rootSpan},
			"span_attributes": map[string]any{"name": "calculator", "type": "tool"},
			"input":           map[string]any{"expression": "2+2"}, "output": 4,
			"metrics": map[string]any{"start": now, "end": now + 0.001}},
		// Merge updates into the root row: its output, then its score and end time.
		{"id": rootID, "_is_merge": true, "output": map[string]any{"answer": "4"},
			"metrics": map[string]any{"completion_tokens": 1}},
		{"id": rootID, "_is_merge": true, "scores": map[string]any{"correct": 1.0},
			"metrics": map[string]any{"end": unixSeconds(time.Now())}},
	}

	// One NDJSON line per event (json.Encoder adds the newline). The routing key
	// (project_name) tells spanlined which project the row goes to; it is removed
	// before the row is sent upstream.
	var lines bytes.Buffer
	encoder := json.NewEncoder(&lines)
	for _, event := range events {
		event["project_name"] = projectName
		if err := encoder.Encode(event); err != nil {
			fmt.Fprintln(os.Stderr, "spanline-client:", err)
			os.Exit(1)
		}
	}

	conn, err := net.Dial("unix", socketPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "spanline-client:", err)
		os.Exit(1)
	}
	if _, err := conn.Write(lines.Bytes()); err != nil {
		fmt.Fprintln(os.Stderr, "spanline-client:", err)
		os.Exit(1)
	}
	if err := conn.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "spanline-client:", err)
		os.Exit(1)
	}
	ids, _ := json.Marshal(map[string]string{"project_name": projectName, "root_id": rootID, "child_id": childID})
	fmt.Println(string(ids))
}
