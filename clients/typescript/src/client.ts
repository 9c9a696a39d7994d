/** The API client: openapi-fetch over the generated `paths`, with the API key on every request. */

import createClient, { type Client } from "openapi-fetch";

import type { paths } from "./schema.js";

export type SmartEdit = Client<paths>;

export interface SmartEditOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8000`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; leave out for a server without API_KEYS. */
  apiKey?: string;
  /** A fetch of your own (tests, proxies); the global one by default. */
  fetch?: typeof globalThis.fetch;
}

/** A typed client: `api.GET("/jobs/{job_id}", …)` answers `{ data, error, response }`, `error` a Problem. */
export function createSmartEdit({ baseUrl, apiKey, fetch }: SmartEditOptions): SmartEdit {
  const client = createClient<paths>({ baseUrl, ...(fetch ? { fetch } : {}) });
  if (apiKey) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${apiKey}`);
        return request;
      },
    });
  }
  return client;
}
