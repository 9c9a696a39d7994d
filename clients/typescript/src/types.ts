/** Names for the generated schemas, and the error every failed call becomes. */

import type { components } from "./schema.js";

type Schemas = components["schemas"];
/** What `POST /jobs` takes: every field with a default may be left out. */
export type JobCreate = Schemas["JobCreate"];
/** A highlight as a request gives it: `score` and `transition` may be left out. */
export type Highlight = Schemas["Highlight"];
export type OutputOptions = Schemas["OutputOptions"];
/** A job as the server sends it: every default filled in. */
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type JobResult = Schemas["JobResult"];
export type JobEvent = Schemas["JobEvent"];
export type Upload = Schemas["Upload"];
export type Problem = Schemas["Problem"];
export type WebhookEvent = Schemas["WebhookEvent"];

/** An RFC 9457 problem+json body (every error the API answers with has one). */
export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const { code, status, detail } = value as Record<string, unknown>;
  return typeof code === "string" && typeof status === "number" && typeof detail === "string";
}

/** A call the API refused: its HTTP status and, when it sent one (it always does), its Problem. */
export class SmartEditError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(status: number, body: unknown) {
    const problem = isProblem(body) ? body : undefined;
    super(problem ? `${problem.detail} (${problem.code})` : `HTTP ${status}`);
    this.name = "SmartEditError";
    this.status = status;
    this.problem = problem;
  }
}
