// Adjust and render again: the timeline and the source preview side by side with the clips and their reasons;
// drag or nudge edges, remove or add a clip, change the aspect, and "Render" a new job based on this one.

import { api, newIdempotencyKey } from "./api.js";
import { addClip, highlights, MAX_CLIPS, MIN_CLIP, MAX_CLIP } from "./clips.js";
import { announce, clock, h, problemBox } from "./dom.js";
import { usePlayer, useNudge } from "./keys.js";
import { preview } from "./preview.js";
import { timeline } from "./timeline.js";

const ASPECTS = [["source", "As the source"], ["16:9", "16:9"], ["9:16", "9:16 vertical"], ["1:1", "1:1 square"], ["4:5", "4:5"]];

/** The clips the page starts from: the analysis's (with their crop paths), else the result's segments. */
export function initialClips(job, analysis) {
  const result = job.result;
  if (analysis?.clips?.length) {
    return analysis.clips.map((clip) => ({ start: clip.start, end: clip.end, score: clip.score, reasons: clip.reasons, crop: clip.crop || [], title: clip.title }));
  }
  const src = analysis?.source;
  return result.segments.map((segment) => ({
    start: segment.start, end: segment.end, score: segment.score, reasons: segment.reasons, title: segment.title,
    crop: src ? segment.crop_path.map((w) => [w.t, w.x / src.width, w.y / src.height, w.w / src.width, w.h / src.height]) : [],
  }));
}

export function editor(job, analysis, { navigate }) {
  const duration = analysis?.source?.duration || job.result.source_duration;
  const original = initialClips(job, analysis);
  const state = { clips: original, duration, analysis };
  let active = -1;
  let idempotencyKey = newIdempotencyKey();
  const list = h("ol", { class: "clips", id: "clip-list" });
  const alert = h("div", {});
  const status = h("p", { class: "muted", role: "status" });
  const aspect = h("select", { id: "edit-aspect", onchange: changed },
    ASPECTS.map(([value, text]) => h("option", { value, selected: value === job.output.aspect_ratio }, text)));
  const add = h("button", { type: "button", onclick: () => {
    const near = view.player && !view.player.paused ? view.player.currentTime : 0;
    const clips = addClip(state.clips, duration, near);
    if (!clips) { status.textContent = `No room for another clip of ${MIN_CLIP} s (at most ${MAX_CLIPS} clips).`; return; }
    tl.update(clips, -1);
    changed();
  } }, "Add a clip");
  const reset = h("button", { type: "button", onclick: () => { tl.update(original.map((c) => ({ ...c })), -1); changed(); } }, "Undo my changes");
  const render = h("button", { type: "button", class: "primary", id: "render", onclick: submit }, "Render");
  const view = preview(job, analysis);
  const tl = timeline(state, { change: changed, select: play });
  view.onTime((t) => tl.setTime(t));
  useNudge(tl.nudge);

  function play(index) {
    active = index;
    tl.update(state.clips, index);
    drawList();
    view.show(state.clips[index], index + 1);
    if (view.player) usePlayer(view.player);
  }

  function changed() {
    idempotencyKey = newIdempotencyKey(); // another request: a repeated click on Render sends the same one
    drawList();
    add.disabled = state.clips.length >= MAX_CLIPS;
    render.disabled = state.clips.length === 0;
  }

  function drawList() {
    list.replaceChildren(...state.clips.map((clip, index) => h("li", { class: index === active ? "active" : "", "data-clip": index },
      h("strong", {}, `Clip ${index + 1}`),
      h("span", { class: "range" }, `${clock(clip.start, 2)}–${clock(clip.end, 2)}`),
      h("span", { class: "muted" }, `${(clip.end - clip.start).toFixed(2)} s · score ${Number(clip.score ?? 0.5).toFixed(2)}`),
      clip.title ? h("em", {}, clip.title) : null,
      h("span", { class: "reasons" }, (clip.reasons || []).map((reason) => h("span", { class: "reason" }, reason))),
      h("span", { class: "row" },
        h("button", { type: "button", onclick: () => play(index) }, "Play in source", h("span", { class: "visually-hidden" }, ` clip ${index + 1}`)),
        h("button", { type: "button", class: "danger", onclick: () => {
          active = -1;
          tl.update(state.clips.filter((_, i) => i !== index), -1);
          changed();
          announce(`Clip ${index + 1} removed`);
        } }, "Remove", h("span", { class: "visually-hidden" }, ` clip ${index + 1}`))))));
  }

  async function submit() {
    alert.replaceChildren();
    render.disabled = true;
    status.textContent = "Submitting…";
    const output = { ...job.output, aspect_ratio: aspect.value };
    if (output.layout === "split" && output.aspect_ratio !== "9:16") output.layout = "single";
    try {
      const made = await api("/jobs", { method: "POST", headers: { "Idempotency-Key": idempotencyKey },
        body: { based_on: job.id, highlights: highlights(state.clips), output } });
      announce("Rendering the new reel");
      navigate(`/studio/jobs/${made.id}`);
    } catch (problem) {
      status.textContent = "";
      alert.append(problemBox(problem, "Not rendered"));
      render.disabled = false;
    }
  }

  changed();
  if (state.clips.length) view.show(state.clips[0], 1, { paused: true }); // the preview opens on a picture
  return h("div", {},
    h("div", { class: "players" },
      h("div", {}, h("h3", {}, "Timeline of the source"), tl.element,
        h("p", { class: "muted" }, `Drag a clip's edges (they snap to pauses and shot cuts; hold Alt to place freely); `,
          `each clip stays ${MIN_CLIP}–${MAX_CLIP} s. Select an edge, then ← → move it a frame, with Shift a second.`)),
      h("div", {}, h("h3", {}, "Source preview"), view.element)),
    h("h3", {}, "Clips, and why each was picked"), list,
    h("div", { class: "row" }, h("label", { for: "edit-aspect" }, "Aspect"), aspect, add, reset, render),
    status, alert);
}
