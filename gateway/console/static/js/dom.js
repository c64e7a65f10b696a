// Building DOM nodes without innerHTML: every value from the API lands as text, never markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// replaceChildren, but skipping what is absent (replaceChildren would write "null").
export function fill(element, ...children) {
  element.replaceChildren();
  return append(element, children);
}

// Screen readers hear what changed after an action that does not move focus.
export function announce(text) {
  const announcer = document.getElementById("announcer");
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = text; }, 50);
}

// A problem (RFC 9457) or any error, shown where the action was taken.
export function problemBox(error, ...extra) {
  const title = error.status ? `${error.title} (${error.status})` : "Something went wrong";
  return h("div", { class: "problem", role: "alert" },
    h("p", { class: "problem-title" }, title),
    h("p", {}, error.message),
    extra);
}
