// The source timeline (SVG): loudness envelope, speech, the picker's score and a feature, shot cuts and pauses as
// ticks, and the clips with edges that drag (snapping) or move by keyboard (role="slider").

import { frameSeconds, moveEdge, snapTargets } from "./clips.js";
import { clock, h, s } from "./dom.js";

const AXIS = 16;
const SIGNAL = [AXIS + 2, AXIS + 72]; // y range of the envelope, speech and score
const CLIPS = [SIGNAL[1] + 6, SIGNAL[1] + 50];
const HEIGHT = CLIPS[1] + 4;
const PAD = 8;
const HANDLE = 14; // px: wide enough for a finger, with the clip row's 44 px height
const SNAP_PX = 10; // an edge dragged this close to a pause or cut lands on it (hold Alt to place it freely)
const FEATURES = ["loudness", "speech", "motion", "faces", "cut_density"];

/** `state`: {clips, duration, analysis}; `on.change(clips)`, `on.select(index)`; returns {element, update, setTime}. */
export function timeline(state, on) {
  const analysis = state.analysis;
  const targets = snapTargets(analysis);
  const frame = frameSeconds(analysis?.source?.frame_rate);
  let width = 800;
  let view = [0, state.duration]; // the seconds shown: all of the source, or around one clip
  let selectedEdge = null; // {index, edge}
  let active = -1;
  const svg = s("svg", { role: "group", "aria-label": "Source timeline: clips over the loudness, speech, score and shot cuts", height: HEIGHT });
  const backdrop = s("g", {});
  const clipLayer = s("g", {});
  const playhead = s("line", { y1: AXIS, y2: HEIGHT, stroke: "#1b1f24", "stroke-width": 1.5, visibility: "hidden" });
  svg.append(backdrop, clipLayer, playhead);
  const feature = h("select", { id: "feature", onchange: drawBackdrop },
    h("option", { value: "" }, "none"), FEATURES.filter((f) => analysis?.features?.[f]?.some((v) => v !== null)).map((f) => h("option", { value: f }, f)));

  const span = () => view[1] - view[0];
  const x = (t) => PAD + ((t - view[0]) / span()) * (width - 2 * PAD);
  const time = (px) => view[0] + ((px - PAD) / (width - 2 * PAD)) * span();
  /** The indexes of an array of one value per `step` s that fall in view (one more each side), every `every`. */
  const shown = (length, step) => {
    const every = Math.max(1, Math.floor(span() / step / width));
    const from = Math.max(0, Math.floor(view[0] / step) - every);
    return { from: from - (from % every), to: Math.min(length, Math.ceil(view[1] / step) + every), every };
  };
  const ySignal = (v) => SIGNAL[1] - v * (SIGNAL[1] - SIGNAL[0]);

  /** A path of `values` (one per `step` s; null: not measured, a gap) scaled to the signal band: 0..1 as they
   * are with `unit`, else from their own smallest to largest (features come in dB, luma levels, counts). */
  function line(values, step, attrs, unit = false) {
    const known = (values || []).filter((v) => v !== null && Number.isFinite(v));
    if (!known.length) return null;
    const low = unit ? 0 : Math.min(...known);
    const span = unit ? 1 : Math.max(...known) - low || 1;
    const { from, to, every } = shown(values.length, step);
    let d = "";
    let pen = "M";
    for (let i = from; i < to; i += every) {
      const v = values[i];
      if (v === null || !Number.isFinite(v)) { pen = "M"; continue; }
      d += `${pen}${x(i * step).toFixed(1)},${ySignal(Math.max(0, Math.min(1, (v - low) / span))).toFixed(1)} `;
      pen = "L";
    }
    return s("path", { d, fill: "none", ...attrs });
  }

  function drawBackdrop() {
    const parts = [];
    const spacing = niceStep(span() / Math.max(2, width / 90));
    for (let t = Math.ceil(view[0] / spacing) * spacing; t <= view[1] + 1e-6; t += spacing) {
      parts.push(s("line", { x1: x(t), x2: x(t), y1: AXIS - 4, y2: AXIS, stroke: "#6e7781" }),
        x(t) + 30 > width ? s("text", { x: x(t) - 2, y: AXIS - 5, "text-anchor": "end" }, clock(t, 0))
          : s("text", { x: x(t) + 2, y: AXIS - 5 }, clock(t, 0)));
    }
    for (const [a, b] of analysis?.speech || []) {
      parts.push(s("rect", { x: x(a), y: SIGNAL[0], width: Math.max(1, x(b) - x(a)), height: SIGNAL[1] - SIGNAL[0], fill: "#b7e0c2", "fill-opacity": 0.6 }));
    }
    const env = analysis?.envelope;
    if (env?.db?.some((v) => v !== null)) {
      const { from, to, every } = shown(env.db.length, env.step);
      let d = `M${x(from * env.step)},${SIGNAL[1]}`;
      for (let i = from; i < to; i += every) {
        const heard = env.db.slice(i, i + every).filter((v) => v !== null);
        const level = heard.length ? Math.max(...heard) : -60; // nothing decoded there: drawn as silence
        d += ` L${x(i * env.step).toFixed(1)},${ySignal((Math.max(-60, level) + 60) / 60).toFixed(1)}`;
      }
      d += ` L${x(Math.min(state.duration, to * env.step))},${SIGNAL[1]} Z`;
      parts.push(s("path", { d, fill: "#6e7781", "fill-opacity": 0.45, stroke: "#57606a", "stroke-width": 0.5 }));
    }
    parts.push(line(analysis?.score, analysis?.step || 1, { stroke: "#b3261e", "stroke-width": 1.5 }, true));
    if (feature.value) parts.push(line(analysis.features[feature.value], analysis.step || 1, { stroke: "#6a3fb5", "stroke-width": 1.2, "stroke-dasharray": "4 2" }));
    for (const [a, b] of analysis?.pauses || []) {
      const mid = x((a + b) / 2);
      parts.push(s("line", { x1: mid, x2: mid, y1: SIGNAL[1] - 6, y2: SIGNAL[1], stroke: "#1b1f24", "stroke-width": 1 }));
    }
    for (const cut of analysis?.shots || []) {
      parts.push(s("line", { x1: x(cut), x2: x(cut), y1: AXIS, y2: HEIGHT, stroke: "#7a4d00", "stroke-width": 1.5, "stroke-dasharray": "3 2" }),
        s("path", { d: `M${x(cut) - 4},${AXIS} L${x(cut) + 4},${AXIS} L${x(cut)},${AXIS + 6} Z`, fill: "#7a4d00" }));
    }
    parts.push(s("line", { x1: PAD, x2: width - PAD, y1: SIGNAL[1], y2: SIGNAL[1], stroke: "#d0d7de" }));
    backdrop.replaceChildren(...parts.filter(Boolean));
  }

  function handle(index, edge) {
    const label = `Clip ${index + 1} ${edge}`;
    const node = s("rect", { class: "handle", width: HANDLE, y: CLIPS[0], height: CLIPS[1] - CLIPS[0], rx: 2, tabindex: 0, role: "slider",
      "aria-label": label, "data-clip": index, "data-edge": edge });
    node.addEventListener("focus", () => select({ index: Number(node.dataset.clip), edge }));
    node.addEventListener("pointerdown", (event) => drag(event, node));
    return node;
  }

  function drawClips() {
    clipLayer.replaceChildren(...state.clips.map((clip, index) => {
      const body = s("rect", { class: "clip", y: CLIPS[0], height: CLIPS[1] - CLIPS[0], rx: 3, "data-clip": index });
      body.addEventListener("click", () => on.select(index));
      const text = s("text", { y: CLIPS[0] + 16, "pointer-events": "none" });
      const why = s("text", { y: CLIPS[0] + 31, "pointer-events": "none", fill: "#57606a" });
      return s("g", { "data-clip": index }, body, text, why, handle(index, "start"), handle(index, "end"));
    }));
    placeClips();
  }

  function placeClips() {
    state.clips.forEach((clip, index) => {
      const group = clipLayer.children[index];
      const [body, text, why, start, end] = group.children;
      body.setAttribute("x", x(clip.start));
      body.setAttribute("width", Math.max(2, x(clip.end) - x(clip.start)));
      body.classList.toggle("active", index === active);
      text.setAttribute("x", x(clip.start) + 12);
      text.textContent = `${index + 1}`;
      why.setAttribute("x", x(clip.start) + 12);
      why.textContent = fitText((clip.reasons || []).join(", "), x(clip.end) - x(clip.start) - 24);
      for (const [node, edge] of [[start, "start"], [end, "end"]]) {
        node.setAttribute("x", (edge === "start" ? x(clip.start) : x(clip.end)) - HANDLE / 2);
        node.setAttribute("aria-valuenow", clip[edge].toFixed(3));
        node.setAttribute("aria-valuemin", "0");
        node.setAttribute("aria-valuemax", state.duration.toFixed(3));
        node.setAttribute("aria-valuetext", `${clock(clip[edge], 2)}, clip ${(clip.end - clip.start).toFixed(1)} s`);
        node.classList.toggle("selected", selectedEdge?.index === index && selectedEdge?.edge === edge);
      }
    });
  }

  function select(edge) {
    selectedEdge = edge;
    placeClips();
  }

  function commit(clips) {
    const count = state.clips.length;
    state.clips = clips;
    if (clips.length !== count) drawClips();
    else placeClips();
    on.change(clips);
  }

  function drag(event, node) {
    event.preventDefault();
    const index = Number(node.dataset.clip);
    const edge = node.dataset.edge;
    node.focus();
    select({ index, edge });
    node.setPointerCapture(event.pointerId);
    const box = svg.getBoundingClientRect();
    const move = (e) => {
      const tolerance = e.altKey ? 0 : (SNAP_PX / (width - 2 * PAD)) * span();
      commit(moveEdge(state.clips, index, edge, time(e.clientX - box.left), { duration: state.duration, targets, tolerance }));
    };
    const up = () => {
      node.removeEventListener("pointermove", move);
      node.removeEventListener("pointerup", up);
      node.removeEventListener("pointercancel", up);
    };
    node.addEventListener("pointermove", move);
    node.addEventListener("pointerup", up);
    node.addEventListener("pointercancel", up);
  }

  /** The arrows: the selected edge by a frame, or a second with shift; true when an edge moved. */
  function nudge(direction, bySecond) {
    if (!selectedEdge || !svg.isConnected) return false;
    const { index, edge } = selectedEdge;
    if (!state.clips[index]) return false;
    const step = bySecond ? 1 : frame;
    commit(moveEdge(state.clips, index, edge, state.clips[index][edge] + direction * step, { duration: state.duration }));
    return true;
  }

  function resize() {
    width = Math.max(280, Math.round(svg.parentElement?.clientWidth || 800));
    svg.setAttribute("width", width);
    svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    drawBackdrop();
    placeClips();
  }

  /** Show `from`–`to` s (the whole source without them), redrawn at once. */
  function zoom(from = 0, to = state.duration) {
    view = [Math.max(0, from), Math.min(state.duration, to)];
    drawBackdrop();
    placeClips();
    whole.disabled = view[0] === 0 && view[1] === state.duration;
  }
  const whole = h("button", { type: "button", disabled: true, onclick: () => zoom() }, "Whole source");
  const around = h("button", { type: "button", onclick: () => {
    const clip = state.clips[selectedEdge?.index ?? active] || state.clips[0];
    if (clip) zoom(clip.start - 10, clip.end + 10);
  } }, "Zoom to the clip");
  const legend = h("div", { class: "legend" },
    h("span", {}, h("span", { class: "swatch", style: "background:#6e7781" }), "loudness"),
    h("span", {}, h("span", { class: "swatch", style: "background:#b7e0c2" }), "speech"),
    h("span", {}, h("span", { class: "swatch", style: "background:#b3261e" }), "score"),
    h("span", {}, h("span", { class: "swatch", style: "background:#7a4d00" }), "shot cut (dashed), pause (tick)"),
    h("span", {}, h("label", { for: "feature" }, "Feature "), feature),
    h("span", { class: "row" }, around, whole));
  const frameBox = h("div", { class: "timeline" }, svg, legend);
  drawClips();
  new ResizeObserver(resize).observe(frameBox);
  return {
    element: frameBox,
    nudge,
    update(clips, activeIndex = active) { active = activeIndex; state.clips = clips; drawClips(); },
    setTime(t) {
      playhead.setAttribute("visibility", t === null ? "hidden" : "visible");
      if (t !== null) { playhead.setAttribute("x1", x(t)); playhead.setAttribute("x2", x(t)); }
    },
  };
}

function niceStep(raw) {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (step >= raw) return step;
  return 7200;
}

function fitText(text, pixels) {
  const fits = Math.floor(pixels / 6);
  if (fits <= 1) return "";
  return text.length > fits ? `${text.slice(0, fits - 1)}…` : text;
}
