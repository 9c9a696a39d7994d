/** The generated types: current with openapi.json, and shaped so a request leaves out what has a default. */

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { SseParser, type components, type Highlight, type JobCreate } from "../src/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url)); // dist/test/ -> the package

test("src/schema.ts is what openapi-typescript makes of openapi.json today", async () => {
  const dir = await mkdtemp(join(tmpdir(), "schema-"));
  try {
    const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");
    await promisify(execFile)(process.execPath, [cli, join(root, "..", "..", "openapi.json"), "-o", join(dir, "schema.ts")]);
    const fresh = await readFile(join(dir, "schema.ts"), "utf8");
    const committed = await readFile(join(root, "src", "schema.ts"), "utf8");
    assert.ok(fresh === committed, "openapi.json changed: run `npm run generate` in clients/typescript and commit src/schema.ts");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a request leaves out every field with a default; what the server sends has them all", () => {
  // These lines are the test: tsc (default options of the generator) refuses the file if they do not hold.
  const asked: Highlight = { start_time: 2, end_time: 17, score: 0.9 }; // no transition: "fade" applies
  const body: JobCreate = { input_path: "talk.mp4", highlights: [asked], output: { aspect_ratio: "9:16" } };
  // @ts-expect-error a highlight the server sends always carries its transition
  const sent: components["schemas"]["HighlightRead"] = { start_time: 2, end_time: 17, score: 0.9 };
  assert.equal(body.highlights?.[0]?.transition, undefined);
  assert.ok(sent);
});

test("the README's example is examples/readme.ts, which tsc compiles with the rest", async () => {
  const readme = await readFile(join(root, "..", "..", "README.md"), "utf8");
  const shown = readme.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.equal(shown, await readFile(join(root, "examples", "readme.ts"), "utf8"), "copy examples/readme.ts into the README");
});

test("the event stream parser: split lines, CRLF, comments, ids kept across events, retry", () => {
  const parser = new SseParser();
  const text = 'retry: 2000\r\n\r\n: ping\n\nid: 7\nevent: stage\ndata: {"stage":"fetch",\ndata: "event":"start"}\r';
  const events = [...parser.push(text.slice(0, 40)), ...parser.push(text.slice(40)), ...parser.push("\n\nevent: progress\n")];
  assert.deepEqual(events, [{ event: "stage", id: "7", data: { stage: "fetch", event: "start" } }]);
  assert.deepEqual(parser.push('data: {"progress":0.5}\n\n'), [{ event: "progress", id: undefined, data: { progress: 0.5 } }]);
  assert.equal(parser.lastEventId, "7"); // an event without an id leaves the last one as it was
  assert.equal(parser.retryMs, 2000);
});
