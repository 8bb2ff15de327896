#!/usr/bin/env node
// Logs a span with a child span, a merge update and a score through spanlined's Unix
// socket, with Node's built-in `net` module. The event format is in
// docs/sidecar-protocol.md.
//
//   SPANLINE_SOCKET=/run/spanline/spanlined.sock node spanline_client.js
//
// Prints the ids it used as one JSON object: {"project_name", "root_id", "child_id"}.
'use strict';
const net = require('net');
const { randomUUID } = require('crypto');

const socketPath = process.env.SPANLINE_SOCKET || '/run/spanline/spanlined.sock';
const projectName = process.env.SPANLINE_PROJECT_NAME || 'spanline-example';

// One NDJSON line. The routing key (project_name) tells spanlined which project the row
// goes to; it is removed before the row is sent upstream.
const event = (fields) => JSON.stringify({ project_name: projectName, ...fields }) + '\n';

const rootId = randomUUID();
const rootSpan = randomUUID();
const childId = randomUUID();
const childSpan = randomUUID();
const now = Date.now() / 1000;

const lines = [
  // The root span: a full row. Its id is the row id every later merge names.
  event({ id: rootId, span_id: rootSpan, root_span_id: rootSpan,
          span_attributes: { name: 'chat', type: 'llm' },
          input: { question: 'What is 2 + 2?' }, metrics: { start: now } }),
  // A child span: same root_span_id, the parent in span_parents.
  event({ id: childId, span_id: childSpan, root_span_id: rootSpan, span_parents: [rootSpan],
          span_attributes: { name: 'calculator', type: 'tool' },
          input: { expression: '2+2' }, output: 4, metrics: { start: now, end: now + 0.001 } }),
  // Merge updates into the root row: its output, then its score and end time.
  event({ id: rootId, _is_merge: true, output: { answer: '4' }, metrics: { completion_tokens: 1 } }),
  event({ id: rootId, _is_merge: true, scores: { correct: 1.0 }, metrics: { end: Date.now() / 1000 } }),
];

const conn = net.createConnection(socketPath, () => {
  // end() flushes what was written, then closes our side.
  conn.end(lines.join(''));
});
conn.on('error', (err) => {
  console.error(`spanline_client: ${socketPath}: ${err.message}`);
  process.exitCode = 1;
});
conn.on('close', (hadError) => {
  if (!hadError) console.log(JSON.stringify({ project_name: projectName, root_id: rootId, child_id: childId }));
});
