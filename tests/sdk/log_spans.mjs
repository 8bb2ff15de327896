// Logs spans with the official Braintrust SDK, unchanged, as an application would:
// initLogger, traced (a root span with a child), span.log. Where they go is decided by
// the environment alone (BRAINTRUST_APP_URL, BRAINTRUST_API_URL, BRAINTRUST_API_KEY).
// Prints one JSON line: the project id, each span's row id by key, and how long flush() took.
import { initLogger, traced } from "braintrust";

const spans = Number(process.env.SPANS ?? "50");
const project = process.env.PROJECT ?? "sdk-e2e";

const logger = initLogger({ projectName: project });
const ids = {};
for (let i = 0; i < spans; i++) {
  await traced(
    async (root) => {
      root.log({
        input: { prompt: `question ${i}`, n: i },
        metadata: { key: `root-${i}`, batch: i % 7 },
        tags: ["sdk-e2e"],
      });
      ids[`root-${i}`] = root.id;
      await traced(
        async (child) => {
          child.log({ output: { completion: `answer ${i}` }, metadata: { key: `child-${i}` } });
          child.log({ scores: { accuracy: (i % 10) / 10 }, metrics: { tokens: 17 * i } });
          ids[`child-${i}`] = child.id;
        },
        { name: "llm-call" },
      );
      root.log({ output: `done ${i}` });
    },
    { name: `request-${i}` },
  );
}
const started = performance.now();
await logger.flush();
const flushMs = performance.now() - started;
const projectId = (await logger.project).id;
process.stdout.write(JSON.stringify({ project_id: projectId, ids, flush_ms: flushMs }) + "\n");
