// A party's live view: the host's console (controls, stats, leaderboards, co-hosts, and on
// each share: pick, remove, mute its sharer) or the shopper's (share your listings, like
// shares; a co-host also gets the share actions). Both show the feed, participants and the
// chart, with the host's picks highlighted and removed shares gone. An ended party shows its
// report (host and co-hosts) and a replay of its feed from the archive.

import { api } from "../api.js";
import { h, partyTimes, themeLabel } from "../dom.js";
import { PartySession } from "../live/party-session.js";
import { CohostsPanel, HostLog, Leaderboard, ListingNames, REFRESH_MS, StatsPanel, hostControls } from "./host-panels.js";
import { listingsPanel } from "./listings.js";
import { ReplayPanel } from "./replay.js";
import { reportPanel } from "./report.js";

// Counters trail the feed by a worker's hop: refresh the panels this long after activity.
const AFTER_ACTIVITY_MS = 700;

/** Title, state badge, theme and times; update(party) redraws it after a transition. */
class PartyHead {
  constructor(party, actions) {
    this.badge = h("span", { class: "state-badge", "data-testid": "party-state" });
    this.times = h("span", { "data-testid": "party-times" });
    this.el = h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("h1", {}, party.title, " ", this.badge),
        h("div", { class: "muted" }, h("span", { class: "theme" }, themeLabel(party.theme)), " · ", this.times),
        party.description ? h("p", {}, party.description) : null,
      ),
      actions,
    );
    this.update(party);
  }

  update(party) {
    this.showState(party.state);
    this.times.textContent = partyTimes(party);
  }

  showState(state) {
    this.badge.textContent = state;
    this.badge.dataset.state = state;
  }
}

function failure(error) {
  const message = error.status === 404 ? "There is no such party." : `Could not load the party: ${error.message}`;
  return h("div", { class: "card" }, h("p", { class: "form-error" }, message), h("a", { href: "#/parties" }, "Back to the parties"));
}

export function partyView({ user, params }) {
  const el = h("div", {}, h("p", { class: "muted" }, "loading…"));
  let cleanups = [];
  // Builds the page for the party as it is; a live page rebuilds itself once the party ends.
  const show = (party) => {
    cleanups.forEach((stop) => stop());
    cleanups = [];
    const host = party.host_id === user.userId;
    const build = party.state === "ended" ? endedLayout : host ? hostLayout : shopperLayout;
    el.replaceChildren(...build(party, user, cleanups, show));
  };
  api("GET", `/parties/${encodeURIComponent(params.id)}`)
    .then(show)
    .catch((error) => el.replaceChildren(failure(error)));
  return { el, cleanup: () => cleanups.forEach((stop) => stop()) };
}

function startSession(party, user, cleanups, { onLike = null, host = null, onState, onActivity = null, onItems = null }) {
  const session = new PartySession({
    token: user.token,
    party: party.id,
    onLike,
    host,
    hooks: { partyState: onState, activity: onActivity, items: onItems },
  });
  cleanups.push(() => session.stop());
  session.start();
  return session;
}

/** A state change announced on the socket: fetch the party again for its new times, and show
 * an ended party's page (its report, its replay) with reopen(party). */
function refetchOnChange(party, head, reopen) {
  let known = party.state;
  return (state) => {
    head.showState(state);
    if (state === known) return;
    known = state;
    api("GET", `/parties/${encodeURIComponent(party.id)}`).then(
      (latest) => (latest.state === "ended" ? reopen(latest) : head.update(latest)),
      () => {},
    );
  };
}

function liveBar(session) {
  return h("div", { class: "live-bar" }, session.status.el, session.counters);
}

function feedCard(session) {
  return h("section", { class: "card" }, h("h2", {}, "Live feed"), session.feed.el);
}

function chartCard(session) {
  return h("section", { class: "card" }, h("h2", {}, "Shares per minute"), h("p", { class: "muted" }, "of the shares this page has seen"), session.chart);
}

/** The share actions of the host and co-hosts: a pick over the socket (the console's frame),
 * a removal and a mute over HTTP. */
function hostActions(party, getSession) {
  const base = `/parties/${encodeURIComponent(party.id)}`;
  return {
    pick: (share, picked) => getSession().socket.request({ type: picked ? "pick" : "unpick", party: party.id, share }),
    remove: (share) => api("DELETE", `${base}/shares/${share}`),
    mute: (user) => api("PUT", `${base}/mutes/${encodeURIComponent(user)}`),
  };
}

function hostLayout(party, user, cleanups, reopen) {
  let panels = [];
  let soon = null;
  const refresh = () => panels.forEach((panel) => panel.refresh());
  const refreshSoon = () => {
    clearTimeout(soon);
    soon = setTimeout(refresh, AFTER_ACTIVITY_MS);
  };
  const controls = hostControls(party, (updated) => head.update(updated));
  const head = new PartyHead(party, controls.el);
  const onStateFrame = refetchOnChange(party, head, reopen);
  const log = new HostLog();
  let session = null;
  session = startSession(party, user, cleanups, {
    host: hostActions(party, () => session),
    onState: (state) => {
      onStateFrame(state);
      controls.show(state);
    },
    onActivity: refreshSoon,
    onItems: (items) => log.add(items),
  });
  const names = new ListingNames(session.model);
  panels = [
    new StatsPanel(party.id),
    new Leaderboard(party.id, { by: "listings", title: "Top listings", unit: "pts", label: (id) => names.name(id) }),
    new Leaderboard(party.id, { by: "sharers", title: "Top sharers", unit: "shares", label: async (id) => id }),
    new Leaderboard(party.id, { by: "picks", title: "Most picked sellers", unit: "picks", label: async (id) => id }),
  ];
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  cleanups.push(() => clearInterval(timer), () => clearTimeout(soon));
  return [
    head.el,
    liveBar(session),
    h(
      "div",
      { class: "columns" },
      feedCard(session),
      h("div", {}, log.el, new CohostsPanel(party).el, chartCard(session), ...panels.map((panel) => panel.el)),
    ),
  ];
}

function shopperLayout(party, user, cleanups, reopen) {
  const head = new PartyHead(party, null);
  let session = null;
  const like = (share) => session.socket.request({ type: "like", party: party.id, share });
  const cohost = (party.cohosts || []).includes(user.userId);
  const log = cohost ? new HostLog() : null;
  session = startSession(party, user, cleanups, {
    onLike: like,
    host: cohost ? hostActions(party, () => session) : null,
    onState: refetchOnChange(party, head, reopen),
    onItems: log ? (items) => log.add(items) : null,
  });
  const share = (listing) => session.socket.request({ type: "share", party: party.id, listing });
  return [
    head.el,
    liveBar(session),
    h("div", { class: "columns" }, feedCard(session), h("div", {}, log?.el || null, listingsPanel({ user, party, share }), chartCard(session))),
  ];
}

/** Listings by id, each fetched once; a listing gone since the party has a stand-in. */
function listingCache() {
  const known = new Map();
  return (id) => {
    if (!known.has(id)) {
      const standIn = { id, title: `listing ${id}`, brand: "no longer listed", price_cents: 0, currency: "EUR", image_urls: [] };
      known.set(id, api("GET", `/listings/${encodeURIComponent(id)}`).catch(() => standIn));
    }
    return known.get(id);
  };
}

function endedLayout(party, user, cleanups) {
  const head = new PartyHead(party, null);
  const listing = listingCache();
  const replay = new ReplayPanel(party, listing);
  cleanups.push(() => replay.stop());
  const moderator = party.host_id === user.userId || (party.cohosts || []).includes(user.userId);
  if (!moderator) return [head.el, replay.el];
  const report = reportPanel(party, (id) => listing(id).then((found) => `${found.title} · ${found.brand}`));
  cleanups.push(report.cleanup);
  return [head.el, report.el, replay.el];
}
