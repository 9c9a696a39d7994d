// The rules an edited clip keeps, as the server would (app/domain/clip_limits.py): 15–60 s, at most 5 clips,
// inside the source, in order and apart; an edge dragged near a pause or a shot cut snaps to it.

export const MIN_CLIP = 15;
export const MAX_CLIP = 60;
export const MAX_CLIPS = 5;

/** Seconds per frame of a rate written "30/1" or "30000/1001" (1/25 when unknown). */
export function frameSeconds(rate) {
  const [num, den] = String(rate || "25/1").split("/").map(Number);
  return num > 0 ? (den || 1) / num : 1 / 25;
}

/** Where an edge may snap: the middle of each pause between words, and each shot cut; sorted. */
export function snapTargets(analysis) {
  if (!analysis) return [];
  const pauses = (analysis.pauses || []).map(([a, b]) => (a + b) / 2);
  return [...pauses, ...(analysis.shots || [])].sort((a, b) => a - b);
}

function shortest(duration) {
  return Math.min(MIN_CLIP, duration); // no clip is shorter, unless the whole source is
}

/** The range `edge` ("start" or "end") of clip `index` may take, given its neighbours and the limits. */
export function edgeBounds(clips, index, edge, duration) {
  const clip = clips[index];
  const min = shortest(duration);
  if (edge === "start") {
    const previous = index > 0 ? clips[index - 1].end : 0;
    const low = Math.max(0, previous, clip.end - MAX_CLIP);
    return [low, Math.max(low, clip.end - min)];
  }
  const next = index < clips.length - 1 ? clips[index + 1].start : duration;
  const high = Math.min(duration, next, clip.start + MAX_CLIP);
  return [Math.min(high, clip.start + min), high];
}

/** Clip `index` with `edge` moved to `time`: snapped to a target within `tolerance` s, then kept in bounds. */
export function moveEdge(clips, index, edge, time, { duration, targets = [], tolerance = 0 }) {
  const [low, high] = edgeBounds(clips, index, edge, duration);
  let t = time;
  if (tolerance > 0) {
    let best = null;
    for (const target of targets) {
      if (target < low || target > high) continue;
      if (Math.abs(target - time) <= tolerance && (best === null || Math.abs(target - time) < Math.abs(best - time))) best = target;
    }
    if (best !== null) t = best;
  }
  t = Math.round(Math.min(high, Math.max(low, t)) * 1000) / 1000;
  return clips.map((clip, i) => (i === index ? { ...clip, [edge]: t } : clip));
}

/** A new clip of `length` s in the first gap that holds one (the gap around `near` first); null when none does. */
export function addClip(clips, duration, near = 0, length = 20) {
  if (clips.length >= MAX_CLIPS) return null;
  const min = shortest(duration);
  const gaps = [];
  let from = 0;
  for (const clip of clips) {
    gaps.push([from, clip.start]);
    from = clip.end;
  }
  gaps.push([from, duration]);
  const fits = gaps.filter(([a, b]) => b - a >= min);
  if (!fits.length) return null;
  const [a, b] = fits.find(([x, y]) => near >= x && near <= y) || fits[0];
  const start = Math.max(a, Math.min(near, b - min));
  const end = Math.min(b, start + Math.max(min, Math.min(length, MAX_CLIP)));
  const added = { start: Math.round(start * 1000) / 1000, end: Math.round(end * 1000) / 1000, score: 0.5, reasons: ["added"], crop: [] };
  return [...clips, added].sort((x, y) => x.start - y.start);
}

/** The clips as POST /jobs `highlights`. */
export function highlights(clips) {
  return clips.map((clip) => ({ start_time: clip.start, end_time: clip.end, score: clip.score ?? 0.5 }));
}

/** A path of [t, ...values] rows at time `t`: linear between rows; two rows at one time are a cut, and from that
 * time on the second holds; before the first row the first, after the last the last. */
export function along(path, t) {
  if (!path || !path.length) return null;
  let i = 0;
  while (i + 1 < path.length && path[i + 1][0] <= t) i++;
  const [from, to] = [path[i], path[i + 1]];
  if (!to || t <= from[0]) return from;
  const k = (t - from[0]) / (to[0] - from[0]);
  return from.map((v, j) => (j === 0 ? t : v + (to[j] - v) * k));
}
