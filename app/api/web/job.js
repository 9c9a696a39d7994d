// A job's page (/studio/jobs/{id}): its stages live; the problem in words when it failed; when completed, the reel,
// what verification measured, and the source timeline to adjust and render again.

import { api, follow } from "./api.js";
import { announce, h, problemBox, shortId } from "./dom.js";
import { editor } from "./editor.js";
import { sourceName } from "./jobs.js";
import { usePlayer, useNudge } from "./keys.js";
import { reel } from "./reel.js";
import { verification } from "./verify.js";

const STAGES = ["fetch", "validate", "analyze", "render", "verify"];

export async function showJob(id, { main, navigate, setLeave }) {
  document.title = `Job ${shortId(id)} · Studio`;
  usePlayer(null);
  useNudge(null);
  let stop = () => {};
  let left = false;
  setLeave(() => { left = true; stop(); usePlayer(null); useNudge(null); });
  let job;
  try {
    job = await api(`/jobs/${id}`);
  } catch (problem) {
    main.append(h("p", {}, h("a", { href: "/studio", "data-route": "" }, "← All jobs")), problemBox(problem, "This job cannot be shown"));
    return;
  }
  if (left) return;
  const page = h("div", {});
  main.append(page);
  const draw = (current) => {
    stop();
    page.replaceChildren(...render(current, navigate));
    if (current.status === "queued" || current.status === "running") stop = live(current, page, draw);
  };
  draw(job);
}

function header(job) {
  return h("header", {},
    h("p", {}, h("a", { href: "/studio", "data-route": "" }, "← All jobs")),
    h("div", { class: "jobhead" },
      h("h1", {}, `Job ${shortId(job.id)}`),
      h("span", { class: `badge ${job.status}`, id: "job-status" }, job.status),
      h("span", { class: "muted" }, sourceName(job))),
    job.based_on ? h("p", { id: "based-on" }, "An edit of ", h("a", { href: `/studio/jobs/${job.based_on}`, "data-route": "" }, `job ${shortId(job.based_on)}`),
      ": its source and analysis, these clips.") : null);
}

function stagesOf(job, events) {
  const states = Object.fromEntries(STAGES.map((name) => [name, "waiting"]));
  for (const event of events) {
    if (!(event.stage in states)) continue;
    states[event.stage] = event.event === "start" ? "running" : event.event === "skip" ? "skipped" : "done";
  }
  if (job.status === "completed") {
    for (const name of STAGES) if (states[name] !== "skipped") states[name] = "done";
  } else if (job.stage in states && job.status === "running" && states[job.stage] === "waiting") {
    states[job.stage] = "running";
  }
  return h("ol", { class: "stages", "aria-label": "Stages" },
    STAGES.map((name) => h("li", { class: states[name], "data-stage": name }, `${name}: ${states[name]}`)));
}

function progressPanel(job) {
  return h("section", { "aria-labelledby": "progress-title" },
    h("h2", { id: "progress-title" }, "Progress"),
    h("progress", { id: "job-progress", max: "1", value: String(job.progress), "aria-label": "Progress of the job" }),
    h("p", { id: "job-stage" }, `${job.stage || "queued"} · ${Math.round(job.progress * 100)} %`),
    h("div", { id: "job-stages" }, stagesOf(job, [])));
}

function render(job, navigate) {
  const parts = [header(job)];
  if (job.status === "queued" || job.status === "running") {
    parts.push(progressPanel(job), cancelButton(job));
  } else if (job.status === "failed") {
    parts.push(h("div", { class: "problem", role: "alert", id: "job-error" },
      h("strong", {}, "This job failed"), h("span", {}, job.error?.message || "No reason was recorded."),
      job.error?.code ? h("span", { class: "muted" }, ` (${job.error.code})`) : null));
  } else if (job.status === "cancelled") {
    parts.push(h("p", { class: "notice" }, "This job was cancelled; it kept nothing it made."));
  } else if (job.status === "completed") {
    parts.push(...completed(job, navigate));
  }
  return parts;
}

function cancelButton(job) {
  const alert = h("div", {});
  return h("div", {}, h("button", { type: "button", class: "danger", onclick: async (event) => {
    event.target.disabled = true;
    try {
      await api(`/jobs/${job.id}`, { method: "DELETE" });
    } catch (problem) {
      alert.replaceChildren(problemBox(problem, "Not cancelled"));
      event.target.disabled = false;
    }
  } }, "Cancel this job"), alert);
}

function live(job, page, draw) {
  let events = [];
  let stage = job.stage; // a screen reader hears each new stage, not every percent
  const refreshStages = (current) => page.querySelector("#job-stages")?.replaceChildren(stagesOf(current, events));
  api(`/jobs/${job.id}/events`).then((known) => { events = known; refreshStages(job); }).catch(() => {});
  return follow(job.id, {
    progress: (p) => {
      const bar = page.querySelector("#job-progress");
      if (bar) bar.value = p.progress;
      const text = page.querySelector("#job-stage");
      if (text) text.textContent = `${p.stage || "queued"} · ${Math.round(p.progress * 100)} %`;
      const badge = page.querySelector("#job-status");
      if (badge) { badge.className = `badge ${p.status}`; badge.textContent = p.status; }
      if (p.stage && p.stage !== stage) announce(`Stage ${(stage = p.stage)}`);
      refreshStages({ ...job, ...p });
    },
    stage: (event) => { events.push(event); refreshStages(job); },
    job: (final) => { announce(`Job ${final.status}`); draw(final); },
    error: (problem) => page.append(problemBox(problem, "Live progress is unavailable")),
  });
}

/** The job's analysis; an edit's signals are its base job's, which saw the whole source (the edit's own may
 * cover only as far as its clips), and its clips and crop paths its own. */
async function analysisOf(job) {
  const own = await api(`/jobs/${job.id}/analysis`);
  if (!job.based_on) return own;
  try {
    const base = await api(`/jobs/${job.based_on}/analysis`);
    return { ...base, job_id: own.job_id, source: own.source, clips: own.clips, filmstrip: own.filmstrip };
  } catch {
    return own; // the base's outputs expired: the edit's own view of the source
  }
}

function completed(job, navigate) {
  const result = job.result;
  const timelineSlot = h("div", {}, h("p", { class: "muted" }, "Loading the analysis…"));
  analysisOf(job).then(
    (analysis) => timelineSlot.replaceChildren(editor(job, analysis, { navigate })),
    (problem) => timelineSlot.replaceChildren(
      h("p", { class: "notice" }, `The analysis of this job is not available (${problem.detail || problem.title}); `,
        "the clips can still be adjusted on a bare timeline."),
      editor(job, null, { navigate })),
  );
  return [
    h("section", { "aria-labelledby": "reel-title" }, h("h2", { id: "reel-title" }, "The reel"),
      h("p", { class: "muted" }, `${result.segments.length} clip${result.segments.length === 1 ? "" : "s"}, ${result.duration.toFixed(1)} s ` +
        `from ${result.source_duration.toFixed(1)} s of source, made in ${result.processing_seconds.toFixed(1)} s.`),
      reel(job, { player: (video) => usePlayer(video) })),
    h("section", { "aria-labelledby": "verify-title" }, h("h2", { id: "verify-title" }, "Verification"), verification(result)),
    h("section", { "aria-labelledby": "adjust-title" }, h("h2", { id: "adjust-title" }, "Adjust and render again"), timelineSlot),
  ];
}
