/** Webhook deliveries, checked with the Standard Webhooks library before their body is trusted. */

import { Webhook } from "standardwebhooks";

import type { WebhookEvent } from "./types.js";

/**
 * The delivery's body, once its `webhook-signature` is found to be this API key's (`GET /webhooks/secret`) and
 * its `webhook-timestamp` recent; throws otherwise. Pass the raw body, as received, not re-serialised JSON.
 */
export function verifyWebhook(
  secret: string,
  body: string,
  headers: Record<string, string | string[] | undefined>,
): WebhookEvent {
  const plain: Record<string, string> = {};
  for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
    const value = headers[name];
    plain[name] = Array.isArray(value) ? value.join(",") : (value ?? "");
  }
  return new Webhook(secret).verify(body, plain) as WebhookEvent;
}
