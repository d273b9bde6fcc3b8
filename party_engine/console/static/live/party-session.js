// Wires a party's socket to what every live view shows: state, participants, feed and chart.

import { h } from "../dom.js";
import { renderChart, sharesPerMinute } from "./chart.js";
import { FeedModel, FeedView } from "./feed.js";
import { PartySocket } from "./socket.js";
import { StatusBadge } from "./status.js";

const CHART_REFRESH_MS = 30000;
const UNJOINED_STATES = new Set(["connecting", "reconnecting", "refused", "closed"]);

export class PartySession {
  /** hooks: {partyState(state), activity(), items(items)} — what a view does on a state
   * change or new events. host: the feed's host actions (see FeedView), or null. */
  constructor({ token, party, onLike = null, host = null, hooks = {} }) {
    this.hooks = hooks;
    this.model = new FeedModel();
    this.feed = new FeedView(this.model, { onLike, host });
    this.status = new StatusBadge();
    this.participants = h("strong", { "data-testid": "participants" }, "–");
    this.shareCount = h("strong", { "data-testid": "share-count" }, "–");
    this.likeCount = h("strong", { "data-testid": "like-total" }, "–");
    this.counters = h(
      "div",
      { class: "counters stale", "data-testid": "counters" },
      h("div", { class: "counter" }, this.participants, h("span", {}, "participants")),
      h("div", { class: "counter" }, this.shareCount, h("span", {}, "shares seen")),
      h("div", { class: "counter" }, this.likeCount, h("span", {}, "likes")),
    );
    this.chart = h("div", { class: "chart-box" }, renderChart(sharesPerMinute([])));
    this.chartTimer = setInterval(() => this.renderChart(), CHART_REFRESH_MS);
    this.socket = new PartySocket({
      token,
      party,
      handlers: {
        status: (state, detail) => {
          this.status.show(state, detail);
          // Counts held over a disconnect are last known values, not current ones.
          this.counters.classList.toggle("stale", UNJOINED_STATES.has(state));
        },
        joined: (frame, { replaceFeed }) => {
          if (replaceFeed) this.model.replace(frame.snapshot);
          this.participants.textContent = String(frame.snapshot.presence);
          this.hooks.partyState?.(frame.snapshot.state);
          this.render();
        },
        events: (items) => {
          this.model.apply(items);
          this.render();
          this.hooks.items?.(items);
          this.hooks.activity?.();
        },
        presence: (count) => (this.participants.textContent = String(count)),
        party: (state) => this.hooks.partyState?.(state),
      },
    });
  }

  start() {
    this.socket.start();
  }

  stop() {
    clearInterval(this.chartTimer);
    this.socket.stop();
  }

  render() {
    this.feed.render();
    this.shareCount.textContent = String(this.model.shares.size);
    let likes = 0;
    for (const count of this.model.likes.values()) likes += count;
    this.likeCount.textContent = String(likes);
    this.renderChart();
  }

  renderChart() {
    this.chart.replaceChildren(renderChart(sharesPerMinute(this.model.shares.values())));
  }
}
