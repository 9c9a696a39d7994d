// The API, as the page speaks it: the key of this tab, JSON requests, problem+json errors, signed URLs.

const KEY = "smartedit.apiKey";
const SIGNED_LIFETIME = 900; // seconds, the most the server grants
const REFRESH_MARGIN = 120; // a URL is minted again this long before it expires

/** An RFC 9457 problem the API answered, or one the page makes up when the network fails. */
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.title = body.title || `HTTP ${status}`;
    this.detail = body.detail || "";
    this.code = body.code || "";
  }
}

export const session = {
  open: false, // the server asks for no key (GET /jobs answered without one)
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

export function authHeaders() {
  return session.key ? { Authorization: `Bearer ${session.key}` } : {};
}

async function problemOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { title: response.statusText || `HTTP ${response.status}` };
  }
  return new Problem(response.status, body);
}

/** `fetch` of an API path with the key; JSON in and out; throws Problem on any status but 2xx. */
export async function api(path, { method = "GET", body, headers = {}, key } = {}) {
  const sent = { ...(key === undefined ? authHeaders() : key ? { Authorization: `Bearer ${key}` } : {}), ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new Problem(0, { title: "The server did not answer", detail: `${method} ${path}: ${error.message}` });
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

/** Who may use the page: resolves when a key (or the open API) lists jobs; a wrong key rejects with its Problem. */
export async function checkAccess(key) {
  try {
    await api("/jobs?limit=1", { key: "" });
    session.open = true;
    return;
  } catch (problem) {
    if (problem.status !== 401) throw problem;
  }
  session.open = false;
  if (!key) throw new Problem(401, { title: "Sign in", detail: "This server asks for an API key.", code: "unauthorized" });
  await api("/jobs?limit=1", { key });
}

const minted = new Map(); // "job/resource" -> {url, expires}
const renewals = new WeakMap(); // element -> {attribute: timer}: a <video>'s src and poster renew apart

/** A URL that opens `resource` of job `id` without a key (for <video>, <img>, <track>, EventSource). */
export async function signedUrl(id, resource, { fresh = false } = {}) {
  const cacheKey = `${id}/${resource}`;
  const known = minted.get(cacheKey);
  if (!fresh && known && known.expires - Date.now() > REFRESH_MARGIN * 1000) return known;
  let signed;
  const asked = Date.now();
  try {
    signed = await api(`/jobs/${id}/signed-urls`, { method: "POST", body: { resource, expires_in: SIGNED_LIFETIME } });
  } catch (problem) {
    // An open server without a signing key: its paths open without a key anyway.
    if (session.open && problem.code === "signed_urls_not_configured") return { url: plainPath(id, resource), expires: Infinity };
    throw problem;
  }
  // By this tab's clock, not the server's `expires_at`: a clock set minutes apart must not renew too late or in a loop.
  const entry = { url: signed.url, expires: asked + SIGNED_LIFETIME * 1000 };
  minted.set(cacheKey, entry);
  return entry;
}

const PATHS = { output: "output", thumbnail: "thumbnail", captions: "captions", events: "events/stream" };

function plainPath(id, resource) {
  return `/jobs/${id}/${PATHS[resource] || resource}`;
}

/** Keep `element[attribute]` a live signed URL of `resource`; a playing medium is switched when it pauses or fails. */
export async function bindSigned(element, attribute, id, resource) {
  const apply = async (fresh) => {
    const { url, expires } = await signedUrl(id, resource, { fresh });
    const playing = attribute === "src" && element instanceof HTMLMediaElement;
    const media = playing && element.currentSrc;
    const at = media ? element.currentTime : 0;
    const wasPlaying = media && !element.paused;
    element.setAttribute(attribute, url);
    if (media) {
      element.load();
      element.addEventListener("loadedmetadata", () => {
        element.currentTime = at;
        if (wasPlaying) element.play().catch(() => {});
      }, { once: true });
    }
    if (Number.isFinite(expires)) schedule(expires);
  };
  const schedule = (expires) => {
    const timers = renewals.get(element) || {};
    renewals.set(element, timers);
    clearTimeout(timers[attribute]);
    const due = Math.max(5000, expires - Date.now() - REFRESH_MARGIN * 1000);
    timers[attribute] = setTimeout(function renew() {
      if (!element.isConnected) return;
      if (attribute === "src" && element instanceof HTMLMediaElement && !element.paused) {
        element.addEventListener("pause", () => apply(true), { once: true });
      } else {
        apply(true);
      }
    }, due);
  };
  if (attribute === "src" && element instanceof HTMLMediaElement) {
    let retried = 0;
    element.addEventListener("error", () => {
      if (element.error && element.error.code === MediaError.MEDIA_ERR_NETWORK && retried++ < 3) apply(true);
    });
  }
  await apply(false);
}

/** Follow a job's live events: `on.progress`, `on.stage`, `on.job` (the final job; the stream then ends). */
export function follow(id, on) {
  let source = null;
  let stopped = false;
  let failures = 0;
  const open = async () => {
    if (stopped) return;
    let url;
    try {
      ({ url } = await signedUrl(id, "events", { fresh: true }));
    } catch (problem) {
      on.error?.(problem);
      return;
    }
    source = new EventSource(url);
    source.addEventListener("open", () => { failures = 0; on.open?.(); });
    source.addEventListener("progress", (e) => on.progress?.(JSON.parse(e.data)));
    source.addEventListener("stage", (e) => on.stage?.(JSON.parse(e.data)));
    source.addEventListener("job", (e) => {
      stopped = true;
      source.close();
      on.job?.(JSON.parse(e.data));
    });
    source.addEventListener("error", () => {
      source.close();
      if (stopped) return;
      // A signed URL opens the stream only while valid: reconnect with a new one, backing off.
      setTimeout(open, Math.min(30000, 1000 * 2 ** failures++));
    });
  };
  open();
  return () => { stopped = true; source?.close(); };
}

/** Upload `file` to POST /uploads with progress; returns {promise, abort}. */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/uploads");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { body = { title: `HTTP ${xhr.status}` }; }
      if (xhr.status === 201) resolve(body);
      else reject(new Problem(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new Problem(0, { title: "The upload failed", detail: "The connection broke." })));
    xhr.addEventListener("abort", () => reject(new Problem(0, { title: "Upload cancelled", detail: "Nothing was kept.", code: "aborted" })));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

/** A fresh Idempotency-Key (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
