/**
 * The SDK against a live service (tests/integration/test_sdk_typescript.py starts one and runs these with
 * SMARTEDIT_URL, SMARTEDIT_API_KEY, SMARTEDIT_SOURCE, SMARTEDIT_SERVER_PATH, SMARTEDIT_HELD_URL (an API with no
 * runner, where a job stays queued) and SMARTEDIT_BREAKER_URL: a proxy that cuts the first event stream after
 * its first stage event).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  createSmartEdit, downloadOutput, followEvents, isProblem, SmartEditError, uploadFile, verifyWebhook,
  type Highlight, type Job, type Problem,
} from "../src/index.js";

const env = process.env;
const skip = env.SMARTEDIT_URL ? false : "no service: set SMARTEDIT_URL (tests/integration/test_sdk_typescript.py does)";
const url = env.SMARTEDIT_URL ?? "";
const api = createSmartEdit({ baseUrl: url, apiKey: env.SMARTEDIT_API_KEY });
const FINAL = new Set(["completed", "failed", "cancelled"]);

async function poll(jobId: string, until: (job: Job) => boolean = (job) => FINAL.has(job.status)): Promise<Job> {
  for (let i = 0; i < 600; i++) {
    const { data, response } = await api.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } });
    if (response.status === 429) {
      await sleep(1000 * Number(response.headers.get("retry-after") ?? 1)); // the rate limit, as it says
      continue;
    }
    assert.ok(data, `GET /jobs/${jobId}: ${response.status}`);
    if (until(data)) return data;
    await sleep(500);
  }
  throw new Error(`job ${jobId} did not end`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

/** A local receiver for webhooks: each delivery's raw body and headers. */
const deliveries: { body: string; headers: IncomingHttpHeaders }[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    deliveries.push({ body: Buffer.concat(chunks).toString("utf8"), headers: request.headers });
    response.writeHead(204).end();
  });
});
let hookUrl = "";
let scratch = "";
before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  scratch = await mkdtemp(join(tmpdir(), "smartedit-sdk-"));
});
after(async () => {
  receiver.close();
  await rm(scratch, { recursive: true, force: true });
});

test("upload streamed, submit, follow the stream through a cut, poll, download, verify the webhook", { skip }, async () => {
  const source = env.SMARTEDIT_SOURCE ?? "";
  const upload = await uploadFile(api, source);
  assert.equal(upload.sha256, await sha256(source));

  const highlight: Highlight = { start_time: 2, end_time: 17, score: 0.9 }; // transition left out: "fade"
  const created = await api.POST("/jobs", {
    body: { input_upload: upload.upload_id, highlights: [highlight], webhook_url: hookUrl },
  });
  assert.equal(created.response.status, 202, JSON.stringify(created.error));
  assert.ok(created.data);
  const id = created.data.id;
  assert.equal(created.response.headers.get("location"), `/jobs/${id}`);

  // Followed through a proxy that cuts the first stream after its first stage event: resumed, nothing lost.
  const follower = createSmartEdit({ baseUrl: env.SMARTEDIT_BREAKER_URL ?? url, apiKey: env.SMARTEDIT_API_KEY });
  const stages: string[] = [];
  let progress = 0;
  let final: Job | undefined;
  for await (const event of followEvents(follower, id, { silenceMs: 10_000 })) {
    if (event.event === "stage") stages.push(event.id);
    else if (event.event === "progress") progress = Math.max(progress, event.data.progress);
    else final = event.data;
  }
  assert.equal(final?.status, "completed", JSON.stringify(final?.error));
  assert.ok(progress > 0);

  const job = await poll(id);
  assert.equal(job.status, "completed");
  assert.equal(job.highlights?.[0]?.transition, "fade"); // what the server sends has every default filled in
  assert.ok(job.result?.verification.passed);
  const listed = await api.GET("/jobs/{job_id}/events", { params: { path: { job_id: id } } });
  assert.deepEqual(stages, (listed.data ?? []).map((event) => String(event.id)), "each stage event once, in order");

  const later: string[] = [];
  for await (const event of followEvents(api, id, { lastEventId: stages[1] })) {
    if (event.event === "stage") later.push(event.id);
  }
  assert.deepEqual(later, stages.slice(2), "Last-Event-ID: only the events after it");

  const reel = await downloadOutput(api, id, join(scratch, "reel.mp4"));
  assert.equal(await sha256(reel), job.result?.output_sha256);

  for (let i = 0; i < 100 && deliveries.length === 0; i++) await sleep(200);
  const delivery = deliveries[0];
  assert.ok(delivery, "no webhook delivery");
  const { data: secret } = await api.GET("/webhooks/secret");
  assert.ok(secret);
  const event = verifyWebhook(secret.secret, delivery.body, delivery.headers);
  assert.equal(event.type, "job.completed");
  assert.equal(event.data.id, id);
  assert.throws(() => verifyWebhook(secret.secret, delivery.body.replace(id, "x"), delivery.headers));

  const late = await api.DELETE("/jobs/{job_id}", { params: { path: { job_id: id } } });
  expectProblem(late.error, late.response, 409, "job_finished");
});

test("cancel a job held in the queue (every option left out): cancelled at once; cancelling again is the same", { skip }, async () => {
  // An API with no runner: the job stays queued, so the cancel never races a worker.
  const held = createSmartEdit({ baseUrl: env.SMARTEDIT_HELD_URL ?? "", apiKey: env.SMARTEDIT_API_KEY });
  const created = await held.POST("/jobs", { body: { input_path: env.SMARTEDIT_SERVER_PATH ?? "talk.mp4" } });
  assert.ok(created.data, JSON.stringify(created.error));
  assert.equal(created.data.status, "queued");
  const path = { params: { path: { job_id: created.data.id } } };
  const cancelled = await held.DELETE("/jobs/{job_id}", path);
  assert.equal(cancelled.response.status, 202);
  assert.ok(cancelled.data?.cancel_requested);
  assert.equal(cancelled.data?.status, "cancelled");
  const again = await held.DELETE("/jobs/{job_id}", path);
  assert.equal(again.response.status, 202);
  assert.equal(again.data?.status, "cancelled");
});

test("every error parses as a Problem", { skip }, async () => {
  const nobody = "0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21";
  const missing = await api.GET("/jobs/{job_id}", { params: { path: { job_id: nobody } } });
  expectProblem(missing.error, missing.response, 404, "job_not_found");
  const notFound = await api.POST("/jobs", { body: { input_path: "nope.mp4" } });
  expectProblem(notFound.error, notFound.response, 422, "input_not_found");
  const invalid = await api.POST("/jobs", { body: { input_path: "talk.mp4", highlights: [{ start_time: 2, end_time: 17, score: 2 }] } });
  expectProblem(invalid.error, invalid.response, 422, "invalid_request");
  assert.ok(invalid.error?.errors?.some((e) => e.field.includes("score")), JSON.stringify(invalid.error));
  const stranger = createSmartEdit({ baseUrl: url, apiKey: "wrong" });
  const refused = await stranger.GET("/jobs");
  expectProblem(refused.error, refused.response, 401, "unauthorized");
  await assert.rejects(downloadOutput(api, nobody, join(scratch, "none.mp4")), (error: unknown) => {
    assert.ok(error instanceof SmartEditError && error.problem?.code === "job_not_found", String(error));
    return true;
  });
  // Past the minute's allowance (twice it and one: a burst may straddle a minute's end): 429 and Retry-After.
  let limited = await api.GET("/jobs");
  for (let i = 0; i < 201 && limited.response.status !== 429; i++) limited = await api.GET("/jobs");
  expectProblem(limited.error, limited.response, 429, "rate_limited");
  assert.ok(Number(limited.response.headers.get("retry-after")) >= 1);
});

function expectProblem(error: unknown, response: Response, status: number, code: string): void {
  assert.ok(isProblem(error), `${response.status}: ${JSON.stringify(error)}`);
  const problem: Problem = error;
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(problem.status, status);
  assert.equal(response.status, status);
  assert.equal(problem.code, code);
  assert.ok(problem.detail.length > 0);
}
