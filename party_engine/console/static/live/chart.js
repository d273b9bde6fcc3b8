// Shares per minute over the last minutes, as a small hand-drawn SVG bar chart.

import { svg } from "../dom.js";

const MINUTES = 15;
const WIDTH = 480;
const HEIGHT = 140;
const AXIS = 18;

/** Count shares into one bucket per minute, oldest first; the last bucket is the current minute. */
export function sharesPerMinute(shares, now = Date.now()) {
  const currentMinute = Math.floor(now / 60000);
  const buckets = new Array(MINUTES).fill(0);
  for (const share of shares) {
    const age = currentMinute - Math.floor(Date.parse(share.at) / 60000);
    if (age >= 0 && age < MINUTES) buckets[MINUTES - 1 - age] += 1;
  }
  return buckets;
}

export function renderChart(buckets) {
  const peak = Math.max(1, ...buckets);
  const slot = WIDTH / buckets.length;
  const plotHeight = HEIGHT - AXIS;
  const bars = buckets.map((count, index) => {
    const height = Math.round((count / peak) * (plotHeight - 14));
    const x = index * slot + 3;
    const y = plotHeight - height;
    return svg(
      "g",
      {},
      svg("rect", { x, y, width: slot - 6, height, rx: 3, class: "bar" }, svg("title", {}, `${count} shares`)),
      count ? svg("text", { x: x + (slot - 6) / 2, y: y - 3, class: "bar-label" }, String(count)) : null,
    );
  });
  return svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "chart",
      role: "img",
      "aria-label": `Shares per minute over the last ${MINUTES} minutes: ${buckets.join(", ")}`,
      "data-testid": "shares-chart",
    },
    svg("line", { x1: 0, y1: plotHeight, x2: WIDTH, y2: plotHeight, class: "axis" }),
    ...bars,
    svg("text", { x: 2, y: HEIGHT - 4, class: "axis-label" }, `${MINUTES} min ago`),
    svg("text", { x: WIDTH - 2, y: HEIGHT - 4, class: "axis-label end" }, "now"),
  );
}
