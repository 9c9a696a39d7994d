/** The SmartVideoEditor API from TypeScript: generated types, openapi-fetch calls, and the few helpers it needs. */

export { createSmartEdit, type SmartEdit, type SmartEditOptions } from "./client.js";
export { followEvents, SseParser, type FollowOptions, type ServerEvent } from "./events.js";
export { downloadOutput, uploadFile } from "./files.js";
export type { components, operations, paths } from "./schema.js";
export * from "./types.js";
export { verifyWebhook } from "./webhooks.js";
