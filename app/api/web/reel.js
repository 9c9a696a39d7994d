// A completed job's reel: the player (clip boundaries marked, captions when there are any), downloads, and the
// equivalent POST /jobs as a curl command.

import { bindSigned, session } from "./api.js";
import { announce, clock, h, problemBox } from "./dom.js";

/** The reel's clips as [start, end] seconds of the reel: each clip's length, one after the other. */
export function reelBounds(segments) {
  let at = 0;
  return segments.map((segment) => {
    const range = [at, at + (segment.end - segment.start)];
    at = range[1];
    return range;
  });
}

/** The POST /jobs body that asks for this job again (the webhook URL as the API shows it, without its query). */
export function requestOf(job) {
  const body = {};
  if (job.based_on) body.based_on = job.based_on;
  else if (job.input_path) body.input_path = job.input_path;
  else if (job.input_url) body.input_url = job.input_url;
  else if (job.input_upload) body.input_upload = job.input_upload;
  if (job.highlights) body.highlights = job.highlights;
  body.output = job.output;
  if (job.webhook_url) body.webhook_url = job.webhook_url;
  return body;
}

export function curlOf(job) {
  const json = JSON.stringify(requestOf(job), null, 2).replaceAll("'", "'\\''");
  const auth = session.open ? "" : ` \\\n  -H "Authorization: Bearer $SMARTEDIT_API_KEY"`;
  return `curl -sS -X POST '${location.origin}/jobs'${auth} \\\n  -H 'Content-Type: application/json' \\\n  -d '${json}'`;
}

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h("textarea", { "aria-hidden": "true", style: "position:fixed;left:-9999px" }, text);
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** The reel section of a completed job; `on.player(video)` when the reel becomes the player the keys drive. */
export function reel(job, on) {
  const result = job.result;
  const video = h("video", { id: "reel", controls: true, preload: "metadata", playsinline: true, "aria-label": "The reel" });
  const downloads = h("div", { class: "downloads" });
  const bounds = reelBounds(result.segments);
  const total = bounds.length ? bounds[bounds.length - 1][1] : result.duration;
  // The reel as measured, against the sum of its clips' lengths (fades and frame rounding move them a little).
  const scale = () => (video.duration && total ? video.duration / total : 1);
  const marks = h("div", { class: "marks", role: "group", "aria-label": "Clips of the reel" },
    bounds.map(([a, b], i) => h("button", {
      type: "button", style: `flex: ${Math.max(0.5, b - a)} 1 0`, title: `Clip ${i + 1}: ${clock(a)}–${clock(b)}`,
      onclick: () => { video.currentTime = a * scale() + 0.01; video.play().catch(() => {}); on.player(video); },
    }, `Clip ${i + 1}`, h("span", { class: "visually-hidden" }, `, ${clock(a)} to ${clock(b)} of ${clock(total)}`))));
  video.addEventListener("play", () => on.player(video));
  video.addEventListener("timeupdate", () => {
    bounds.forEach(([a, b], i) => {
      const playing = video.currentTime >= a * scale() && video.currentTime < b * scale();
      marks.children[i].classList.toggle("playing", playing);
      if (playing) marks.children[i].setAttribute("aria-current", "true");
      else marks.children[i].removeAttribute("aria-current");
    });
  });

  if (result.output_expired) {
    return h("div", { class: "notice" }, "The reel was deleted (it expires after OUTPUT_TTL, or was deleted by hand).");
  }
  const trouble = h("div", {});
  bindSigned(video, "src", job.id, "output").catch((problem) => trouble.replaceChildren(problemBox(problem, "The reel cannot be played here")));
  bindSigned(video, "poster", job.id, "thumbnail").catch(() => {});
  const download = h("a", { class: "button primary", download: `${job.id}.mp4`, href: "#" }, "Download reel");
  bindSigned(download, "href", job.id, "output").catch(() => {});
  downloads.append(download);
  if (result.captions_url) {
    const track = h("track", { kind: "captions", srclang: "en", label: "Captions", default: true });
    video.append(track);
    bindSigned(track, "src", job.id, "captions").catch(() => {});
    const captions = h("a", { class: "button", download: `${job.id}.vtt`, href: "#" }, "Download captions");
    bindSigned(captions, "href", job.id, "captions").catch(() => {});
    downloads.append(captions);
  }
  const command = h("pre", { id: "curl" }, curlOf(job));
  const copied = h("span", { class: "muted", role: "status" });
  downloads.append(h("button", { type: "button", onclick: async () => {
    try {
      await copy(curlOf(job));
      copied.textContent = "Copied.";
    } catch {
      copied.textContent = "Select the command below and copy it.";
    }
    announce(copied.textContent);
  } }, "Copy as curl"), copied);
  on.player(video);
  return h("div", {}, video, trouble, marks, downloads,
    h("details", {}, h("summary", {}, "The request as curl"), command));
}
