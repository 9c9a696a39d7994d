// The key's jobs, newest first: filter by status, live progress, poster frames, cancel, delete a reel.

import { api, bindSigned, follow } from "./api.js";
import { announce, h, problemBox, shortId } from "./dom.js";

const STATUSES = ["all", "queued", "running", "completed", "failed", "cancelled"];
const LIVE_STREAMS = 3; // a browser keeps ~6 connections per origin over HTTP/1.1: streams must leave room for requests
const REFRESH_MS = 5000; // while jobs beyond the streamed ones are active, the list is asked again this often

export function sourceName(job) {
  if (job.based_on) return `edit of ${shortId(job.based_on)}`;
  return job.input_path || job.input_url || (job.input_upload ? `upload ${shortId(job.input_upload)}` : "—");
}

function reelSummary(result) {
  const clips = result.segments.length;
  return `${clips} clip${clips === 1 ? "" : "s"}, ${result.duration.toFixed(1)} s of ${result.source_duration.toFixed(1)} s`;
}

export function jobsList({ navigate }) {
  let status = "all";
  let cursor = null;
  let stops = new Map(); // job id -> stop its stream
  let timer = null;
  const alert = h("div", {});
  const items = h("ul", { class: "jobs", "aria-live": "off" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(true) }, "More jobs");
  const filters = h("div", { class: "choices" },
    STATUSES.map((value) => h("label", {},
      h("input", { type: "radio", name: "status", value, checked: value === status, onchange: () => { status = value; load(false); } }),
      value === "all" ? "All" : value[0].toUpperCase() + value.slice(1))));
  const thumbs = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      thumbs.unobserve(entry.target);
      bindSigned(entry.target, "src", entry.target.dataset.job, "thumbnail").catch(() => {});
    }
  });

  function stopAll() {
    for (const stop of stops.values()) stop();
    stops = new Map();
    clearTimeout(timer);
  }

  async function load(append) {
    alert.replaceChildren();
    if (!append) { cursor = null; stopAll(); }
    const query = new URLSearchParams({ limit: "25" });
    if (status !== "all") query.set("status", status);
    if (append && cursor) query.set("cursor", cursor);
    let page;
    try {
      page = await api(`/jobs?${query}`);
    } catch (problem) {
      alert.append(problemBox(problem, "The jobs cannot be listed"));
      return;
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const rows = page.items.map(row);
    if (append) items.append(...rows);
    else items.replaceChildren(...rows);
    if (!items.children.length) items.append(h("li", { class: "muted" }, "No jobs yet."));
    watchActive(page.items);
  }

  function watchActive(jobs) {
    const active = jobs.filter((job) => job.status === "queued" || job.status === "running");
    for (const job of active.slice(0, Math.max(0, LIVE_STREAMS - stops.size))) {
      if (stops.has(job.id)) continue;
      stops.set(job.id, follow(job.id, {
        progress: (p) => update(job.id, { status: p.status, stage: p.stage, progress: p.progress }),
        job: (final) => { stops.delete(job.id); replace(final); announce(`Job ${shortId(final.id)} ${final.status}`); },
      }));
    }
    clearTimeout(timer);
    if (active.length > stops.size) timer = setTimeout(() => load(false), REFRESH_MS);
  }

  function row(job) {
    const li = h("li", { class: "job", "data-job": job.id });
    fill(li, job);
    return li;
  }

  function fill(li, job) {
    const thumb = h("img", { class: "thumb", alt: job.status === "completed" ? `Poster frame of job ${shortId(job.id)}` : "", "data-job": job.id });
    if (job.status === "completed" && job.result && !job.result.output_expired) thumbs.observe(thumb);
    const progress = h("progress", { max: "1", value: String(job.progress), "aria-label": `Progress of job ${shortId(job.id)}` });
    const actions = h("div", { class: "actions" });
    if (job.status === "queued" || job.status === "running") {
      actions.append(h("button", { type: "button", class: "danger", onclick: () => cancel(job) }, "Cancel",
        h("span", { class: "visually-hidden" }, ` job ${shortId(job.id)}`)));
    }
    if (job.status === "completed" && job.result && !job.result.output_expired) {
      actions.append(h("button", { type: "button", class: "danger", onclick: () => deleteReel(job) }, "Delete reel",
        h("span", { class: "visually-hidden" }, ` of job ${shortId(job.id)}`)));
    }
    li.replaceChildren(thumb,
      h("div", { class: "what" },
        h("a", { href: `/studio/jobs/${job.id}`, "data-route": "" }, sourceName(job)),
        h("div", {}, h("span", { class: `badge ${job.status}` }, job.status), " ",
          h("span", { class: "stage muted" }, job.status === "running" ? `${job.stage || ""} ${Math.round(job.progress * 100)} %` : ""),
          " ", h("time", { class: "muted", datetime: job.created_at }, new Date(job.created_at).toLocaleString())),
        job.status === "running" || job.status === "queued" ? progress : null,
        job.error ? h("div", { class: "muted" }, job.error.message) : null,
        job.result && !job.result.output_expired ? h("div", { class: "muted" }, reelSummary(job.result)) : null,
        job.result?.output_expired ? h("div", { class: "muted" }, "The reel was deleted.") : null),
      actions);
  }

  function update(id, change) {
    const li = items.querySelector(`li[data-job="${id}"]`);
    if (!li) return;
    const badge = li.querySelector(".badge");
    badge.className = `badge ${change.status}`;
    badge.textContent = change.status;
    li.querySelector(".stage").textContent = `${change.stage || ""} ${Math.round(change.progress * 100)} %`;
    const bar = li.querySelector("progress");
    if (bar) bar.value = change.progress;
  }

  function replace(job) {
    const li = items.querySelector(`li[data-job="${job.id}"]`);
    if (li) fill(li, job);
  }

  async function cancel(job) {
    try {
      replace(await api(`/jobs/${job.id}`, { method: "DELETE" }));
      announce(`Cancelling job ${shortId(job.id)}`);
    } catch (problem) {
      alert.replaceChildren(problemBox(problem, "The job was not cancelled"));
    }
  }

  async function deleteReel(job) {
    if (!confirm(`Delete the reel of job ${shortId(job.id)}? Its thumbnail and captions go too; the job stays.`)) return;
    try {
      await api(`/jobs/${job.id}/output`, { method: "DELETE" });
      replace(await api(`/jobs/${job.id}`));
      announce(`The reel of job ${shortId(job.id)} was deleted`);
    } catch (problem) {
      alert.replaceChildren(problemBox(problem, "The reel was not deleted"));
    }
  }

  load(false);
  const element = h("div", {}, h("fieldset", {}, h("legend", {}, "Status"), filters), alert, items, more);
  return { element, stop: () => { stopAll(); thumbs.disconnect(); }, navigate };
}
