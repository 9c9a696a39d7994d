// A new job: a file dropped in (uploaded with a cancellable progress bar), a server path, or a URL / s3://; options.

import { api, newIdempotencyKey, upload } from "./api.js";
import { announce, bytes, h, problemBox } from "./dom.js";

const select = (id, label, values, chosen, hint) => h("div", { class: "field" },
  h("label", { for: id }, label, hint ? h("small", {}, ` ${hint}`) : null),
  h("select", { id, name: id }, values.map(([value, text]) => h("option", { value, selected: value === chosen }, text))));

/** "12-40" or "1:05 - 1:35" per line (or comma): [{start_time, end_time}], or an Error naming the bad line. */
export function parseRanges(text) {
  const seconds = (part) => part.split(":").reduce((total, piece) => total * 60 + Number(piece), 0);
  return text.split(/[\n,;]+/).map((line) => line.trim()).filter(Boolean).map((line) => {
    const match = line.match(/^([\d:.]+)\s*(?:-|–|to)\s*([\d:.]+)$/);
    const range = match && { start_time: seconds(match[1]), end_time: seconds(match[2]) };
    if (!range || !(range.end_time > range.start_time) || Number.isNaN(range.start_time)) {
      throw new Error(`"${line}" is not a range: write start-end in seconds or m:ss, e.g. 65-95 or 1:05-1:35.`);
    }
    return range;
  });
}

export function submitForm({ navigate }) {
  let file = null;
  let uploading = null;
  const alert = h("div", {});
  const fileInput = h("input", { id: "file", type: "file", accept: "video/*,.mkv,.mov,.mp4", onchange: () => choose(fileInput.files[0]) });
  const chosen = h("p", { class: "muted", id: "file-chosen" }, "No file chosen.");
  const drop = h("label", { class: "drop", for: "file" },
    h("span", {}, "Drop a video here, or choose one"), fileInput);
  const bar = h("progress", { id: "upload-progress", max: "1", value: "0", "aria-label": "Upload progress" });
  const barText = h("span", { class: "muted" });
  const abort = h("button", { type: "button", onclick: () => uploading?.abort() }, "Cancel upload");
  const progress = h("div", { hidden: true }, bar, h("div", { class: "row" }, barText, abort));
  const path = h("input", { id: "input-path", name: "input_path", placeholder: "talk.mp4" });
  const url = h("input", { id: "input-url", name: "input_url", type: "text", inputmode: "url", placeholder: "https://… or s3://bucket/key" });
  const ranges = h("textarea", { id: "ranges", name: "ranges", placeholder: "10-40\n1:05-1:35", disabled: true });
  const webhook = h("input", { id: "webhook", name: "webhook_url", type: "url", placeholder: "https://example.com/hook" });
  const maxDuration = h("input", { id: "max-duration", type: "number", min: "15", max: "300", step: "1", value: "300" });
  const kinds = [["file", "A file", drop], ["path", "A path on the server", path], ["url", "A URL or s3://", url]];
  const panels = Object.fromEntries(kinds.map(([kind, , control]) => [kind, h("div", { hidden: kind !== "file" },
    kind === "file" ? [control, chosen, progress] : h("div", { class: "field" },
      h("label", { for: control.id }, kind === "path" ? "Path under MEDIA_ROOT" : "URL"), control))]));
  const sourceKind = () => new FormData(form).get("source");

  function choose(picked) {
    file = picked || null;
    chosen.textContent = file ? `${file.name} (${bytes(file.size)})` : "No file chosen.";
  }

  for (const type of ["dragenter", "dragover"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); choose(e.dataTransfer.files[0]); });

  async function source() {
    const kind = sourceKind();
    if (kind === "path") return { input_path: path.value.trim() };
    if (kind === "url") return { input_url: url.value.trim() };
    if (!file) throw new Error("Choose or drop a video first.");
    progress.hidden = false;
    bar.value = 0;
    uploading = upload(file, (done) => { bar.value = done; barText.textContent = `${Math.round(done * 100)} % of ${bytes(file.size)}`; });
    try {
      const stored = await uploading.promise;
      return { input_upload: stored.upload_id };
    } finally {
      uploading = null;
      progress.hidden = true;
    }
  }

  function options() {
    const data = new FormData(form);
    const output = {
      aspect_ratio: data.get("aspect"),
      layout: data.get("layout"),
      resolution: data.get("resolution"),
      render: data.get("render"),
    };
    const body = { output };
    if (data.get("highlights") === "mine") body.highlights = parseRanges(ranges.value);
    else output.max_duration = Number(maxDuration.value);
    if (webhook.value.trim()) body.webhook_url = webhook.value.trim();
    return body;
  }

  const submit = h("button", { type: "submit", class: "primary" }, "Make the reel");
  const form = h("form", { id: "submit", onsubmit: async (event) => {
    event.preventDefault();
    alert.replaceChildren();
    submit.disabled = true;
    try {
      const body = options(); // checked before a long upload starts
      const job = await api("/jobs", { method: "POST", body: { ...(await source()), ...body }, headers: { "Idempotency-Key": newIdempotencyKey() } });
      announce("Job queued");
      navigate(`/studio/jobs/${job.id}`);
    } catch (problem) {
      alert.append(problemBox(problem.title ? problem : { title: problem.message }, "Not submitted"));
    } finally {
      submit.disabled = false;
    }
  } },
  h("fieldset", {}, h("legend", {}, "Source"),
    h("div", { class: "choices" }, kinds.map(([kind, text]) => h("label", {},
      h("input", { type: "radio", name: "source", value: kind, checked: kind === "file", onchange: () => {
        for (const [name, panel] of Object.entries(panels)) panel.hidden = name !== kind;
      } }), text))),
    Object.values(panels)),
  h("fieldset", {}, h("legend", {}, "Clips"),
    h("div", { class: "choices" },
      h("label", {}, h("input", { type: "radio", name: "highlights", value: "auto", checked: true, onchange: () => { ranges.disabled = true; maxDuration.disabled = false; } }), "Pick them for me"),
      h("label", {}, h("input", { type: "radio", name: "highlights", value: "mine", onchange: () => { ranges.disabled = false; maxDuration.disabled = true; } }), "My ranges")),
    h("div", { class: "field" }, h("label", { for: "max-duration" }, "Reel at most (s)", h("small", {}, " 15–300, picked clips")), maxDuration),
    h("div", { class: "field" }, h("label", { for: "ranges" }, "My ranges", h("small", {}, " start-end per line, seconds or m:ss; 15–60 s each")), ranges)),
  h("fieldset", {}, h("legend", {}, "Output"),
    h("div", { class: "grid" },
      select("aspect", "Aspect", [["source", "As the source"], ["16:9", "16:9"], ["9:16", "9:16 vertical"], ["1:1", "1:1 square"], ["4:5", "4:5"]], "source"),
      select("layout", "Layout", [["single", "Single"], ["split", "Split (9:16, two speakers)"]], "single"),
      select("resolution", "Resolution", [["source", "As the crop"], ["720p", "720p"], ["1080p", "1080p"]], "source"),
      select("render", "Render", [["auto", "Auto (smart)"], ["encode", "Encode every frame"]], "auto")),
    h("div", { class: "field" }, h("label", { for: "webhook" }, "Webhook URL", h("small", {}, " optional")), webhook)),
  alert,
  submit);
  return { element: form, stop: () => uploading?.abort() };
}
