// What verification measured on the reel, at a glance: each figure green when its check passed, red when not
// (and the words "passed"/"failed", for whoever does not see the colour).

import { h } from "./dom.js";

const fixed = (value, digits, unit) => (value === null || value === undefined ? "—" : `${value.toFixed(digits)} ${unit}`);

function figure(name, value, passed) {
  return h("li", { class: `figure ${passed ? "pass" : "fail"}` },
    h("span", { class: "name" }, name, " · ", passed ? "passed" : "failed"),
    h("span", { class: "value" }, value));
}

export function verification(result) {
  const v = result.verification;
  const checks = v.checks || {};
  const ok = (...names) => names.every((name) => checks[name] !== false);
  const items = [
    figure("Loudness", fixed(v.audio_loudness, 1, "LUFS"), ok("loudness")),
    ...v.clip_loudness.map((lufs, i) => figure(`Clip ${i + 1}`,
      v.silent_clips.includes(i) ? "silent, left as is" : fixed(lufs, 1, "LUFS"), ok("clips"))),
    figure("Spread between clips", fixed(v.loudness_spread_lu, 2, "LU"), ok("spread")),
    figure("True peak", fixed(v.true_peak, 1, "dBTP"), ok("true_peak")),
    figure("Colour", [v.color_primaries, v.color_transfer, v.color_space].map((c) => c || "?").join(" / "), ok("bt709", "keyframes_bt709")),
    figure("Pixels", `${v.width}×${v.height} ${v.pix_fmt || ""}`, ok("yuv420p")),
    figure("Frames and timestamps", ok("frames", "timestamps") ? "all there, in order" : "missing or out of order", ok("frames", "timestamps")),
    figure("Duration", `${v.duration.toFixed(2)} s of ${v.expected_duration.toFixed(2)} s`, ok("duration")),
  ];
  return h("div", {},
    h("p", {}, v.passed ? "Every target was met" : "A target was missed",
      v.corrections ? ` (after ${v.corrections} loudness correction${v.corrections > 1 ? "s" : ""})` : "", "."),
    h("ul", { class: "figures" }, items));
}
