// Building DOM nodes without HTML strings: every piece of text becomes a text node, so user
// data (listing titles, party names) can never turn into markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function setProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function childNodes(children) {
  return children.flat().filter((child) => child !== null && child !== undefined && child !== false);
}

/** h("a", {href: "#/x", class: "button"}, "text", otherNode) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  el.append(...childNodes(children));
  return el;
}

export function svg(tag, props = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  el.append(...childNodes(children));
  return el;
}

export function replaceChildren(el, ...children) {
  el.replaceChildren(...childNodes(children));
}

export function formatTime(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function formatPrice(cents, currency) {
  try {
    return new Intl.NumberFormat([], { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function themeLabel(theme) {
  return `${theme.kind} · ${theme.value}`;
}

/** When a party happens, in words that fit its state. */
export function partyTimes(party) {
  switch (party.state) {
    case "live":
      return `live since ${formatTime(party.started_at)}, ends ${formatTime(party.ends_at)}`;
    case "scheduled":
      return `starts ${formatTime(party.starts_at)} · ${party.duration_minutes} min`;
    default:
      return `${party.state} ${formatTime(party.ended_at || party.ends_at)}`;
  }
}
