// Parties by state, with their theme and time.

import { api } from "../api.js";
import { h, partyTimes, themeLabel } from "../dom.js";

const SECTIONS = [
  ["live", "Live now"],
  ["scheduled", "Scheduled"],
  ["ended", "Ended"],
  ["cancelled", "Cancelled"],
];

function partyRow(party, user) {
  const action =
    party.host_id === user.userId ? "Manage" : party.state === "live" ? "Join" : "View";
  return h(
    "li",
    { class: "party-row", "data-party": party.id, "data-testid": "party-row" },
    h(
      "div",
      {},
      h("div", { class: "party-title" }, party.title),
      h("div", { class: "muted" }, h("span", { class: "theme" }, themeLabel(party.theme)), ` · ${partyTimes(party)}`),
    ),
    h("a", { class: "button small", href: `#/party/${encodeURIComponent(party.id)}` }, action),
  );
}

async function section(state, title, user) {
  const list = h("ul", { class: "party-list" });
  const box = h("section", { class: "card", "data-state": state }, h("h2", {}, title), list);
  try {
    const page = await api("GET", `/parties?state=${state}&limit=50`);
    if (!page.items.length) list.replaceWith(h("p", { class: "muted" }, "None."));
    list.append(...page.items.map((party) => partyRow(party, user)));
    if (page.next_cursor) box.append(h("p", { class: "muted" }, "Showing the first 50."));
  } catch (error) {
    list.replaceWith(h("p", { class: "form-error" }, `Could not load: ${error.message}`));
  }
  return box;
}

export function partiesView({ user }) {
  const el = h(
    "div",
    {},
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Parties"),
      user.role === "host" ? h("a", { class: "button", href: "#/schedule" }, "Schedule a party") : null,
    ),
  );
  Promise.all(SECTIONS.map(([state, title]) => section(state, title, user))).then((boxes) => el.append(...boxes));
  return { el };
}
