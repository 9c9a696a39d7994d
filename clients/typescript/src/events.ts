/** The job event stream (Server-Sent Events; Node 20 has no EventSource): parsed, and resumed after a drop. */

import type { SmartEdit } from "./client.js";
import { SmartEditError, type Job, type JobEvent, type JobStatus } from "./types.js";

/** One event of `GET /jobs/{job_id}/events/stream`, by its `event` name. */
export type ServerEvent =
  | { event: "stage"; id: string; data: Omit<JobEvent, "id"> }
  | { event: "progress"; id?: undefined; data: { stage: string | null; progress: number; status: JobStatus } }
  | { event: "job"; id?: undefined; data: Job };

export interface FollowOptions {
  /** Resume after this stage event id (sent as `Last-Event-ID`); later ids come from the stream itself. */
  lastEventId?: string;
  /** A stream silent this long (no byte, not even a `: ping`) is taken as lost: 3 server heartbeats (15 s). */
  silenceMs?: number;
  /** Reconnects in a row that bring no event before giving up (the last error is thrown). */
  retries?: number;
  /** Stops following (the generator throws the signal's reason). */
  signal?: AbortSignal;
}

/** Splits a text/event-stream body into events, keeping what a resume needs: the last id and the retry delay. */
export class SseParser {
  lastEventId: string | undefined;
  retryMs = 1000;
  private buffer = "";
  private name = "message";
  private id: string | undefined;
  private data: string[] = [];

  constructor(lastEventId?: string) {
    this.lastEventId = lastEventId;
  }

  /** Feed decoded text; returns the events it completed. */
  push(text: string): ServerEvent[] {
    this.buffer += text;
    const events: ServerEvent[] = [];
    let end: number;
    // A line ends in \n, \r\n or \r; a \r at the very end may be the first half of \r\n: wait for more.
    while ((end = this.buffer.search(/\r\n|\n|\r(?!$)/)) >= 0) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith("\r\n", end) ? 2 : 1));
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): ServerEvent | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined; // a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.name = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }

  private dispatch(): ServerEvent | undefined {
    const { name, id, data } = this;
    this.name = "message";
    this.id = undefined;
    this.data = [];
    if (id !== undefined) this.lastEventId = id;
    if (data.length === 0) return undefined;
    return { event: name, id, data: JSON.parse(data.join("\n")) } as ServerEvent;
  }
}

class Silent extends Error {}

/**
 * The job's events until its final `job` event. A dropped connection, or one silent for `silenceMs`, is
 * reconnected after the server's `retry` delay with `Last-Event-ID`, so no stage event is lost or repeated.
 * An error answer (401, 404, …) is thrown as a SmartEditError at once.
 */
export async function* followEvents(
  client: SmartEdit,
  jobId: string,
  options: FollowOptions = {},
): AsyncGenerator<ServerEvent, void, undefined> {
  const { silenceMs = 45_000, retries = 5, signal } = options;
  const parser = new SseParser(options.lastEventId);
  let failures = 0;
  for (;;) {
    let lost: unknown;
    try {
      for await (const event of connect(client, jobId, parser, silenceMs, signal)) {
        failures = 0;
        yield event;
        if (event.event === "job") return;
      }
      lost = new Error("the event stream ended before the job did");
    } catch (error) {
      if (error instanceof SmartEditError || signal?.aborted) throw error;
      lost = error;
    }
    if (++failures > retries) throw lost;
    await new Promise((resolve) => setTimeout(resolve, parser.retryMs));
  }
}

async function* connect(
  client: SmartEdit,
  jobId: string,
  parser: SseParser,
  silenceMs: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<ServerEvent, void, undefined> {
  const abort = new AbortController();
  const stop = () => abort.abort(signal?.reason);
  signal?.addEventListener("abort", stop);
  const timer = setTimeout(() => abort.abort(new Silent(`no byte for ${silenceMs} ms`)), silenceMs);
  try {
    const { error, response } = await client.GET("/jobs/{job_id}/events/stream", {
      params: { path: { job_id: jobId } },
      headers: parser.lastEventId === undefined ? {} : { "Last-Event-ID": parser.lastEventId },
      parseAs: "stream",
      signal: abort.signal,
    });
    if (!response.ok || !response.body) throw new SmartEditError(response.status, error);
    const text = response.body.pipeThrough(new TextDecoderStream());
    for await (const chunk of text) {
      timer.refresh();
      yield* parser.push(chunk);
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
    abort.abort();
  }
}
