/** Media in and out, streamed: a source uploaded from disk, a reel saved to disk (never whole in memory). */

import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

import type { SmartEdit } from "./client.js";
import { SmartEditError, type Upload } from "./types.js";

/** `POST /uploads` with the file's bytes streamed from disk; its `upload_id` is a job's `input_upload`. */
export async function uploadFile(client: SmartEdit, path: string): Promise<Upload> {
  const { size } = await stat(path);
  const body = Readable.toWeb(createReadStream(path));
  const { data, error, response } = await client.POST("/uploads", {
    body: body as unknown as string, // the spec's binary body; fetch streams it
    bodySerializer: (stream: unknown) => stream,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
    duplex: "half", // a streamed request body (fetch asks for it)
  });
  if (!data) throw new SmartEditError(response.status, error);
  return data;
}

/** Save the job's reel (`GET /jobs/{id}/output`, a redirect to object storage followed) to `target`. */
export async function downloadOutput(client: SmartEdit, jobId: string, target: string): Promise<string> {
  const { error, response } = await client.GET("/jobs/{job_id}/output", {
    params: { path: { job_id: jobId } },
    parseAs: "stream",
  });
  if (!response.ok || !response.body) throw new SmartEditError(response.status, error);
  const partial = `${target}.part`;
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(partial));
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true }); // a cut transfer leaves no half file
  }
  return target;
}
