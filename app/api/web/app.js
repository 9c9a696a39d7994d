// The Studio's entry: who is signed in, and which page the address names (/studio or /studio/jobs/{id}).

import { checkAccess, session } from "./api.js";
import { h, problemBox } from "./dom.js";
import { showJob } from "./job.js";
import { showHome } from "./home.js";
import { installKeys } from "./keys.js";

const main = document.getElementById("main");
let leave = () => {}; // stops the live streams and timers of the page being left
let signedIn = false; // until then a link loads the page anew, which asks for the key

/** Go to `path` inside the Studio without reloading. */
export function navigate(path) {
  history.pushState({}, "", path);
  route();
}

function route() {
  leave();
  leave = () => {};
  main.replaceChildren();
  const match = location.pathname.match(/^\/studio\/jobs\/([0-9a-f-]{36})$/i);
  const context = { main, navigate, setLeave: (fn) => { leave = fn; } };
  if (match) showJob(match[1], context);
  else showHome(context);
  main.focus({ preventScroll: true });
}

function signIn(problem) {
  const input = h("input", { id: "key", type: "password", name: "key", autocomplete: "current-password", required: true });
  const alert = h("div", {});
  if (problem && session.key) alert.append(problemBox(problem, "This key was refused"));
  const form = h("form", { class: "signin", onsubmit: async (event) => {
    event.preventDefault();
    alert.replaceChildren();
    try {
      await checkAccess(input.value.trim());
      session.key = input.value.trim();
      start();
    } catch (refused) {
      session.key = "";
      alert.append(problemBox(refused, "This key was refused"));
      input.focus();
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", {}, "Give an API key of this server. It is kept in this tab only (sessionStorage) and sent as ",
    h("code", {}, "Authorization: Bearer"), "."),
  h("div", { class: "field" }, h("label", { for: "key" }, "API key"), input),
  alert,
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  main.replaceChildren(form);
  input.focus();
}

async function start() {
  const signOut = document.getElementById("sign-out");
  try {
    await checkAccess(session.key);
  } catch (problem) {
    if (problem.status === 401) return signIn(problem);
    main.replaceChildren(problemBox(problem, "The API cannot be reached"));
    return;
  }
  signOut.hidden = session.open;
  signedIn = true;
  route();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.key = "";
  leave();
  location.assign("/studio");
});
window.addEventListener("popstate", route);
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link || !signedIn || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
installKeys();
start();
