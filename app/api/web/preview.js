// The source preview: a clip played from the source itself (GET /jobs/{id}/source, when the browser can play it) or
// stepped through the filmstrip sprite, with the crop window drawn over it following the clip's crop path and the
// faces the analysis tracked (the one the window frames drawn bold).

import { bindSigned, signedUrl } from "./api.js";
import { along } from "./clips.js";
import { h } from "./dom.js";

/** A stand-in for a <video> over the filmstrip: play/pause/currentTime/paused/playbackRate, drawing tile by tile. */
function filmstripPlayer(canvas, sprite, strip, onTime) {
  const player = {
    paused: true, currentTime: 0, playbackRate: 1, isConnected: true,
    play() {
      if (!player.paused) return Promise.resolve();
      player.paused = false;
      let last = performance.now();
      const tick = (now) => {
        if (player.paused) return;
        player.currentTime += ((now - last) / 1000) * player.playbackRate;
        last = now;
        onTime(player.currentTime);
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      return Promise.resolve();
    },
    pause() { player.paused = true; },
    draw(context) {
      const i = tileAt(strip, player.currentTime);
      const [w, hgt] = strip.tile;
      context.drawImage(sprite, (i % strip.columns) * w, Math.floor(i / strip.columns) * hgt, w, hgt, 0, 0, canvas.width, canvas.height);
    },
  };
  Object.defineProperty(player, "isConnected", { get: () => canvas.isConnected });
  return player;
}

/** `job`, its `analysis` (may be null); returns {element, show(clip), player, onTime(fn)}. */
export function preview(job, analysis) {
  const source = analysis?.source;
  const width = source?.width || 16;
  const height = source?.height || 9;
  const box = h("div", { class: "preview", style: `aspect-ratio: ${width} / ${height}` });
  const overlay = h("canvas", { class: "overlay", width: 640, height: Math.round((640 * height) / width), "aria-hidden": "true" });
  const caption = h("p", { class: "muted", id: "preview-caption" }, "Choose a clip to preview it in the source.");
  const listeners = [];
  let clip = null;
  let stopAt = null; // a clip plays to its end once; played on from there, it goes on
  let player = null;
  let draw = () => {};

  const tell = (t) => {
    if (stopAt !== null && t >= stopAt) { stopAt = null; player.pause(); }
    for (const fn of listeners) fn(t);
  };

  if (source?.playable) {
    const video = h("video", { playsinline: true, preload: "metadata", "aria-describedby": "preview-caption", "aria-label": "Source preview" });
    bindSigned(video, "src", job.id, "source").catch((problem) => { caption.textContent = `The source cannot be played: ${problem.detail || problem.title}`; });
    video.addEventListener("timeupdate", () => tell(video.currentTime));
    box.append(video, overlay);
    player = video;
    const frame = () => { paint(video.currentTime); if (video.isConnected) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
  } else if (analysis?.filmstrip) {
    const strip = analysis.filmstrip;
    const picture = h("canvas", { width: 640, height: Math.round((640 * height) / width), role: "img", "aria-label": "Source preview from the filmstrip", "aria-describedby": "preview-caption" });
    const sprite = new Image();
    signedUrl(job.id, "filmstrip").then(({ url }) => { sprite.src = url; }).catch(() => {});
    player = filmstripPlayer(picture, sprite, strip, (t) => { tell(t); paint(t); });
    draw = () => { if (sprite.complete && sprite.naturalWidth) player.draw(picture.getContext("2d")); };
    sprite.addEventListener("load", () => paint(player.currentTime));
    box.append(picture, overlay);
  } else {
    box.append(h("p", { style: "color:#fff;padding:1rem" }, "No preview: the source is not playable here and has no filmstrip."));
  }

  function paint(t) {
    draw();
    const context = overlay.getContext("2d");
    const W = overlay.width;
    const H = overlay.height;
    context.clearRect(0, 0, W, H);
    if (!clip) return;
    for (const track of analysis?.faces || []) {
      const box = nearest(track.boxes, t);
      if (!box) continue;
      context.strokeStyle = "rgba(255,255,255,.7)";
      context.lineWidth = 1;
      context.strokeRect(box[1] * W, box[2] * H, box[3] * W, box[4] * H);
    }
    const crop = along(clip.crop, t);
    if (!crop) return;
    const [, cx, cy, cw, ch] = crop;
    context.fillStyle = "rgba(0,0,0,.55)";
    context.beginPath();
    context.rect(0, 0, W, H);
    context.rect(cx * W, cy * H, cw * W, ch * H);
    context.fill("evenodd");
    context.strokeStyle = "#e8a200";
    context.lineWidth = 3;
    context.strokeRect(cx * W, cy * H, cw * W, ch * H);
    const framed = framedTrack(clip, t);
    const face = nearest((analysis?.faces || []).find((track) => track.track === framed)?.boxes, t);
    if (framed != null && face) {
      context.strokeStyle = "#e8a200";
      context.lineWidth = 2;
      context.strokeRect(face[1] * W, face[2] * H, face[3] * W, face[4] * H);
    }
  }

  return {
    element: h("div", {}, box, caption),
    get player() { return player; },
    onTime(fn) { listeners.push(fn); },
    /** Show clip `chosen` (numbered `number`) from its start, playing it to its end unless `paused`. */
    show(chosen, number, { paused = false } = {}) {
      clip = chosen;
      stopAt = chosen.end;
      if (!player) return;
      caption.textContent = `Clip ${number}: ${chosen.start.toFixed(2)}–${chosen.end.toFixed(2)} s of the source` +
        (chosen.crop?.length ? ", the crop window in amber (and the face it frames)" : "");
      player.currentTime = chosen.start;
      paint(chosen.start);
      if (!paused) player.play().catch(() => {});
    },
  };
}

/** The tile showing time `t`: the last whose keyframe (`times`, when given) is at or before it. */
function tileAt(strip, t) {
  if (strip.times?.length) {
    let i = 0;
    while (i + 1 < strip.times.length && strip.times[i + 1] <= t) i++;
    return Math.min(i, strip.count - 1);
  }
  return Math.min(strip.count - 1, Math.max(0, Math.floor(t / strip.interval)));
}

/** The face track the clip's crop window frames at `t`, as the server chose it (null: none, or not said). */
function framedTrack(clip, t) {
  const path = clip.crop || [];
  let i = -1;
  while (i + 1 < path.length && path[i + 1][0] <= t) i++;
  return (clip.crop_tracks || [])[Math.max(i, 0)] ?? null;
}

function nearest(boxes, t) {
  let best = null;
  for (const box of boxes || []) if (Math.abs(box[0] - t) <= 0.5 && (!best || Math.abs(box[0] - t) < Math.abs(best[0] - t))) best = box;
  return best;
}
