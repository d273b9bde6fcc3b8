// The host's report of an ended party (GET /parties/{id}/report): totals, shares and likes per
// minute, presence per minute, joins after the start push, and the top sellers, listings and
// sharers. A report that is not final yet (the archive is still writing the party's last
// events, about a minute after the end) is fetched again until it is.

import { api } from "../api.js";
import { formatTime, h } from "../dom.js";
import { minuteChart } from "./report-charts.js";

const AGAIN_MS = 15000;

function clockLabel(startedAt) {
  const start = Date.parse(startedAt);
  return (minute) => new Date(start + minute * 60000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function tile(label, value, testId, note = null) {
  return h("div", { class: "counter", "data-testid": testId }, h("strong", {}, value), h("span", {}, label), note ? h("span", {}, note) : null);
}

function percent(ratio) {
  return ratio === null ? "–" : `${(ratio * 100).toFixed(1)} %`;
}

function ranked(title, items, testId, label = (id) => Promise.resolve(id)) {
  const list = h("ol", { class: "leaderboard" });
  for (const item of items) {
    const name = h("span", {}, item.id);
    label(item.id).then((text) => (name.textContent = text));
    list.append(h("li", {}, name, h("strong", {}, `${item.likes} ♥ · ${item.shares} ${item.shares === 1 ? "share" : "shares"}`)));
  }
  return h("section", { class: "card", "data-testid": testId }, h("h2", {}, title), items.length ? list : h("p", { class: "muted" }, "Nobody."));
}

function chartCard(title, note, chart) {
  return h("section", { class: "card" }, h("h2", {}, title), note ? h("p", { class: "muted" }, note) : null, chart);
}

function render(report, listingName) {
  const at = clockLabel(report.started_at);
  const push = report.push;
  const tiles = h(
    "div",
    { class: "counters report-tiles" },
    tile("shares", report.shares.toLocaleString(), "report-shares"),
    tile("likes", report.likes.toLocaleString(), "report-likes"),
    tile("shoppers", report.shoppers.toLocaleString(), "report-shoppers"),
    tile("at the peak", report.peak_presence.toLocaleString(), "report-peak", report.peak_at ? at(Math.floor((Date.parse(report.peak_at) - Date.parse(report.started_at)) / 60000)) : null),
    tile("joined per push", push ? percent(push.ratio) : "no push", "report-conversion", push ? `${push.joined.toLocaleString()} of ${push.notified.toLocaleString()}` : null),
  );
  const charts = [
    chartCard(
      "Shares and likes per minute",
      null,
      minuteChart(
        [
          { name: "likes", values: report.likes_per_minute, cls: "series-likes" },
          { name: "shares", values: report.shares_per_minute, cls: "series-shares" },
        ],
        { kind: "lines", testId: "report-activity", label: at },
      ),
    ),
    chartCard(
      "Shoppers present",
      "the most at once in each minute",
      minuteChart([{ name: "present", values: report.presence_per_minute, cls: "series-presence" }], { kind: "bars", testId: "report-presence", label: at }),
    ),
  ];
  if (push) {
    charts.push(
      chartCard(
        "Joins after the start push",
        `shoppers who joined for the first time, by minute after ${formatTime(push.pushed_at)}`,
        minuteChart([{ name: "joined", values: push.joins_per_minute, cls: "series-joins" }], { kind: "bars", testId: "report-joins", label: (m) => `+${m}′`, every: 5 }),
      ),
    );
  }
  return [
    tiles,
    h(
      "div",
      { class: "columns" },
      h("div", {}, ...charts),
      h(
        "div",
        {},
        ranked("Top listings", report.top_listings, "report-top-listings", listingName),
        ranked("Top sellers", report.top_sellers, "report-top-sellers"),
        ranked("Top sharers", report.top_sharers, "report-top-sharers"),
      ),
    ),
  ];
}

/** The report panel; listingName(id) -> Promise of a listing's name. cleanup() stops refetching. */
export function reportPanel(party, listingName) {
  const note = h("p", { class: "notice", "data-testid": "report-provisional", hidden: true }, "Provisional: the archive is still writing the party's last events. This page updates by itself.");
  const body = h("div", {}, h("p", { class: "muted" }, "computing the report…"));
  const el = h("section", { class: "report", "data-testid": "report" }, h("h2", {}, "Report"), note, body);
  let timer = null;
  const load = () =>
    api("GET", `/parties/${encodeURIComponent(party.id)}/report`)
      .then(({ final, report }) => {
        note.hidden = final;
        body.replaceChildren(...render(report, listingName));
        if (!final) timer = setTimeout(load, AGAIN_MS);
      })
      .catch((error) => body.replaceChildren(h("p", { class: "form-error" }, `The report is unavailable: ${error.message}`)));
  load();
  return { el, cleanup: () => clearTimeout(timer) };
}
