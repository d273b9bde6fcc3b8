// The host's side panels: start/end controls, stats and leaderboards from the HTTP API,
// refreshed periodically and soon after activity. The workers count shares a moment after
// they happen, so these trail the live feed slightly. A failing endpoint shows "unavailable".

import { api } from "../api.js";
import { h } from "../dom.js";

export const REFRESH_MS = 5000;

function unavailable(error) {
  return h("p", { class: "muted unavailable" }, `unavailable (${error.status ? `HTTP ${error.status}` : error.message})`);
}

/** Listing ids to "title · brand", from the shares seen in the feed or else GET /listings/{id}. */
export class ListingNames {
  constructor(model) {
    this.model = model;
    this.fetched = new Map(); // id -> Promise of a name
  }

  name(id) {
    for (const share of this.model.shares.values()) {
      if (share.listing.id === id) return Promise.resolve(`${share.listing.title} · ${share.listing.brand}`);
    }
    if (!this.fetched.has(id)) {
      const name = api("GET", `/listings/${encodeURIComponent(id)}`)
        .then((listing) => `${listing.title} · ${listing.brand}`)
        .catch(() => `unknown listing ${id}`);
      this.fetched.set(id, name);
    }
    return this.fetched.get(id);
  }
}

/** A leaderboard ({items: [{id, score}]}); label(id) -> Promise of what to show for an id. */
export class Leaderboard {
  constructor(partyId, { by, title, unit, label }) {
    this.path = `/parties/${encodeURIComponent(partyId)}/leaderboard?by=${by}&limit=5`;
    this.unit = unit;
    this.label = label;
    this.body = h("div", {}, h("p", { class: "muted" }, "loading…"));
    this.el = h("section", { class: "card", "data-testid": `top-${by}` }, h("h2", {}, title), this.body);
  }

  async refresh() {
    try {
      const { items } = await api("GET", this.path);
      const labels = await Promise.all(items.map((item) => this.label(item.id)));
      this.body.replaceChildren(
        items.length
          ? h(
              "ol",
              { class: "leaderboard" },
              ...items.map((item, index) => h("li", {}, h("span", {}, labels[index]), h("strong", {}, `${item.score} ${this.unit}`))),
            )
          : h("p", { class: "muted" }, "Nothing yet."),
      );
    } catch (error) {
      this.body.replaceChildren(unavailable(error));
    }
  }
}

export class StatsPanel {
  constructor(partyId) {
    this.path = `/parties/${encodeURIComponent(partyId)}/stats`;
    this.body = h("div", {}, h("p", { class: "muted" }, "loading…"));
    this.el = h("section", { class: "card", "data-testid": "stats" }, h("h2", {}, "Stats"), this.body);
  }

  async refresh() {
    try {
      const stats = await api("GET", this.path);
      const numbers = Object.entries(stats).filter(([, value]) => typeof value === "number");
      this.body.replaceChildren(
        h("dl", { class: "stats" }, ...numbers.flatMap(([key, value]) => [h("dt", {}, key.replace(/_/g, " ")), h("dd", { "data-stat": key }, String(value))])),
      );
    } catch (error) {
      this.body.replaceChildren(unavailable(error));
    }
  }
}

/** Start and End buttons; onChange(party) after a transition succeeds. */
export function hostControls(party, onChange) {
  const note = h("span", { class: "field-error", role: "alert" });
  const start = h("button", { type: "button", "data-testid": "start-party" }, "Start now");
  const end = h("button", { type: "button", class: "danger", "data-testid": "end-party" }, "End party");
  const show = (state) => {
    start.hidden = state !== "scheduled";
    end.hidden = state !== "live";
  };
  const transition = (action) => async () => {
    note.textContent = "";
    start.disabled = end.disabled = true;
    try {
      const updated = await api("POST", `/parties/${encodeURIComponent(party.id)}/${action}`);
      show(updated.state);
      onChange(updated);
    } catch (error) {
      note.textContent = error.message;
    } finally {
      start.disabled = end.disabled = false;
    }
  };
  start.addEventListener("click", transition("start"));
  end.addEventListener("click", transition("end"));
  show(party.state);
  return { el: h("div", { class: "controls" }, start, end, note), show };
}

/** The host's co-hosts: listed, added by user id and removed (PUT / DELETE /cohosts/{user}). */
export class CohostsPanel {
  constructor(party) {
    this.base = `/parties/${encodeURIComponent(party.id)}/cohosts/`;
    this.list = h("ul", { class: "cohost-list", "data-testid": "cohosts" });
    const input = h("input", { id: "cohost-user", name: "cohost", autocomplete: "off", placeholder: "user id" });
    this.note = h("span", { class: "field-error", role: "alert" });
    const form = h(
      "form",
      { class: "inline-form" },
      h("label", { for: "cohost-user" }, "Co-host"),
      input,
      h("button", { class: "small", type: "submit" }, "Add co-host"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.change("PUT", input.value.trim()).then((ok) => ok && (input.value = ""));
    });
    this.el = h("section", { class: "card", "data-testid": "cohosts-panel" }, h("h2", {}, "Co-hosts"), this.list, form, this.note);
    this.show(party.cohosts || []);
  }

  show(cohosts) {
    this.list.replaceChildren(
      ...(cohosts.length
        ? cohosts.map((user) => {
            const remove = h("button", { class: "small", type: "button" }, "Remove");
            remove.addEventListener("click", () => this.change("DELETE", user));
            return h("li", {}, h("span", {}, user), remove);
          })
        : [h("li", { class: "muted" }, "None yet.")]),
    );
  }

  async change(method, user) {
    this.note.textContent = "";
    try {
      const party = await api(method, this.base + encodeURIComponent(user));
      this.show(party.cohosts);
      return true;
    } catch (error) {
      this.note.textContent = error.message;
      return false;
    }
  }
}

const HOST_ITEM_TEXT = {
  pick: (item) => `${item.user} picked share #${item.share}`,
  unpick: (item) => `${item.user} took back the pick of share #${item.share}`,
  removed: (item) => `${item.user} removed share #${item.share}`,
  mute: (item) => `${item.user} muted ${item.target}${item.until ? ` until ${new Date(item.until).toLocaleTimeString()}` : ""}`,
  unmute: (item) => `${item.user} unmuted ${item.target}`,
};

/** The host actions of the party as they happen (picks, removals, mutes), newest first. */
export class HostLog {
  constructor() {
    this.list = h("ul", { class: "host-log", "data-testid": "host-log" });
    this.empty = h("p", { class: "muted" }, "No host actions yet.");
    this.el = h("section", { class: "card" }, h("h2", {}, "Host actions"), this.empty, this.list);
  }

  add(items) {
    for (const item of items) {
      const text = HOST_ITEM_TEXT[item.kind];
      if (!text) continue;
      this.empty.hidden = true;
      this.list.prepend(h("li", { "data-kind": item.kind }, text(item)));
    }
  }
}
