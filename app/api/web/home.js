// The Studio's first page: the submit form beside the key's jobs.

import { h } from "./dom.js";
import { jobsList } from "./jobs.js";
import { submitForm } from "./submit.js";

export function showHome({ main, navigate, setLeave }) {
  document.title = "Studio · SmartVideoEditor";
  const list = jobsList({ navigate });
  const form = submitForm({ navigate });
  main.append(
    h("h1", { class: "visually-hidden" }, "Studio"),
    h("div", { class: "home" },
      h("section", { "aria-labelledby": "submit-title" }, h("h2", { id: "submit-title" }, "New reel"), form.element),
      h("section", { "aria-labelledby": "jobs-title" }, h("h2", { id: "jobs-title" }, "Jobs"), list.element)),
  );
  setLeave(() => { list.stop(); form.stop(); });
}
