// Small helpers to build the page: elements from data (text is always text, never parsed HTML), times, a live region.

/** An element: `h("a", {href: "/x", class: "y", onclick: f}, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "style") element.style.cssText = value; // CSSOM: the page's CSP refuses style attributes
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element with its attributes. */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/** Seconds as m:ss.s (or h:mm:ss). */
export function clock(seconds, digits = 1) {
  const sign = seconds < 0 ? "-" : "";
  let rest = Math.abs(seconds);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = (rest - minutes * 60).toFixed(digits).padStart(digits ? 3 + digits : 2, "0");
  return hours ? `${sign}${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${sign}${minutes}:${secs}`;
}

/** Say `text` to a screen reader without moving focus. */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A problem as a person reads it: its title in bold, then its detail. */
export function problemBox(problem, lead = "") {
  return h("div", { class: "problem", role: "alert" },
    h("strong", {}, lead ? `${lead}: ${problem.title}` : problem.title),
    problem.detail ? h("span", {}, problem.detail) : null,
    problem.code ? h("span", { class: "muted" }, ` (${problem.code})`) : null);
}

export function bytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function shortId(id) {
  return String(id).slice(0, 8);
}
