import { createSmartEdit, downloadOutput, followEvents, uploadFile, verifyWebhook } from "smartedit-client";
const api = createSmartEdit({ baseUrl: "http://127.0.0.1:8000", apiKey: "<API key>" });
const upload = await uploadFile(api, "talk.mp4");                       // streamed from disk
const { data: job, error } = await api.POST("/jobs", { body: { input_upload: upload.upload_id,
  highlights: [{ start_time: 5, end_time: 25, score: 0.9 }] } });       // error: a typed Problem
if (!job) throw new Error(`${error?.code}: ${error?.detail}`);
for await (const event of followEvents(api, job.id))                     // resumes after a drop or 45 s silent
  if (event.event === "progress") console.log(event.data.stage, event.data.progress);
await downloadOutput(api, job.id, "reel.mp4");                           // throws SmartEditError if not completed
// in your webhook route: verifyWebhook(secret, rawBody, request.headers) -> WebhookEvent, or throws
