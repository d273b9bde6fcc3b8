// Replays an ended party's feed from the archive (GET /parties/{id}/archive, NDJSON by offset,
// paged with `after`): its shares, likes, picks and removals play into the live view's feed at
// a chosen speed, on the party's own clock. Pages are fetched as the playback needs them, so
// a long party never sits whole in the page.

import { apiLines } from "../api.js";
import { h } from "../dom.js";
import { FeedModel, FeedView } from "../live/feed.js";

const PAGE = 2000;
const TICK_MS = 200;
const SPEEDS = [60, 300, 1200];
const KIND = { "share.picked": "pick", "share.unpicked": "unpick", "share.removed": "removed" };

/** listing(id) -> Promise of a listing (GET /listings/{id}, or a stand-in once it is gone). */
export class ReplayPanel {
  constructor(party, listing) {
    this.party = party;
    this.listing = listing;
    this.model = new FeedModel();
    this.feed = new FeedView(this.model);
    this.clock = h("span", { class: "muted", "data-testid": "replay-clock" }, "");
    this.speed = h("select", { "aria-label": "Replay speed" }, ...SPEEDS.map((s) => h("option", { value: s }, `${s}× speed`)));
    this.button = h("button", { type: "button", "data-testid": "replay-start" }, "Replay the feed");
    this.button.addEventListener("click", () => this.start());
    this.error = h("p", { class: "form-error", role: "alert" });
    this.el = h(
      "section",
      { class: "card", "data-testid": "replay" },
      h("h2", {}, "Replay"),
      h("p", { class: "muted" }, "The party's feed from the archive, faster than it happened."),
      h("div", { class: "controls" }, this.button, this.speed, this.clock),
      this.error,
      h("div", { class: "replay-feed" }, this.feed.el),
    );
    this.timer = null;
  }

  start() {
    this.stop();
    this.model.replace({});
    this.feed.render();
    this.error.textContent = "";
    this.pending = [];
    this.after = 0;
    this.exhausted = false;
    this.likes = new Map();
    this.now = Date.parse(this.party.started_at || this.party.starts_at);
    this.end = Date.parse(this.party.ended_at);
    this.busy = false;
    this.button.textContent = "Restart";
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async tick() {
    if (this.busy) return; // a page or a listing is still on its way
    this.busy = true;
    try {
      this.now += TICK_MS * Number(this.speed.value);
      const items = [];
      while (true) {
        if (!this.pending.length && !this.exhausted) await this.fetchPage();
        const next = this.pending[0];
        if (!next || Date.parse(next.at) > this.now) break;
        this.pending.shift();
        const item = await this.item(next);
        if (item) items.push(item);
      }
      this.model.apply(items);
      this.feed.render();
      const minute = Math.max(0, Math.floor((Math.min(this.now, this.end) - Date.parse(this.party.started_at || this.party.starts_at)) / 60000));
      const done = this.exhausted && !this.pending.length;
      this.clock.textContent = done ? "replayed to the end" : `minute ${minute} · ${new Date(this.now).toLocaleTimeString()}`;
      if (done) this.stop();
    } catch (error) {
      this.error.textContent = `The replay stopped: ${error.message}`;
      this.stop();
    } finally {
      this.busy = false;
    }
  }

  async fetchPage() {
    const path = `/parties/${encodeURIComponent(this.party.id)}/archive?after=${this.after}&limit=${PAGE}`;
    const lines = await apiLines(path);
    this.pending.push(...lines);
    if (lines.length) this.after = lines[lines.length - 1].offset;
    this.exhausted = lines.length < PAGE;
  }

  /** An archived event as the feed item the live socket would have sent. */
  async item(event) {
    if (event.type === "share.created") {
      const listing = await this.listing(event.listing_id);
      return { kind: "share", share: event.offset, offset: event.offset, user: event.user_id, at: event.at, listing };
    }
    if (event.type === "like.created") {
      const likes = (this.likes.get(event.share_offset) || 0) + 1;
      this.likes.set(event.share_offset, likes);
      return { kind: "like", share: event.share_offset, offset: event.offset, likes };
    }
    const kind = KIND[event.type];
    return kind ? { kind, share: event.share_offset, offset: event.offset } : null;
  }
}
