// The report's charts: values per minute as bars or lines, hand-drawn in SVG (no library, no
// network), with a few y ticks and a time label every so many minutes.

import { svg } from "../dom.js";

const WIDTH = 640;
const HEIGHT = 200;
const LEFT = 44;
const BOTTOM = 20;
const TOP = 8;

/** A round step for about `ticks` ticks up to `peak` (1, 2 or 5 times a power of ten). */
function niceStep(peak, ticks = 4) {
  const raw = Math.max(1, peak / ticks);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw);
}

function compact(n) {
  return n >= 10000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/**
 * series: [{name, values, cls}], all of one length (one value per minute).
 * options: {kind: "bars" | "lines", testId, label(minute) -> x label text, every (minutes between x labels)}.
 */
export function minuteChart(series, { kind = "lines", testId, label = (m) => `${m}′`, every = 15 }) {
  const length = Math.max(1, ...series.map((s) => s.values.length));
  const peak = Math.max(1, ...series.flatMap((s) => s.values));
  const step = niceStep(peak);
  const top = Math.ceil(peak / step) * step;
  const legendRoom = series.length > 1 ? 16 : 0;
  const plotTop = TOP + legendRoom;
  const plotWidth = WIDTH - LEFT - 4;
  const plotHeight = HEIGHT - BOTTOM - plotTop;
  const x = (i) => LEFT + (i / length) * plotWidth;
  const y = (v) => plotTop + plotHeight - (v / top) * plotHeight;
  const grid = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(
      svg("line", { x1: LEFT, x2: WIDTH - 4, y1: y(v), y2: y(v), class: v ? "grid" : "axis" }),
      svg("text", { x: LEFT - 6, y: y(v) + 3, class: "axis-label end" }, compact(v)),
    );
  }
  for (let m = 0; m < length; m += every) {
    grid.push(svg("text", { x: x(m), y: HEIGHT - 5, class: "axis-label" }, label(m)));
  }
  const slot = plotWidth / length;
  const bars = kind === "bars" || length < 3; // a line needs a few points to say anything
  const marks = series.map((s, index) => {
    if (bars) {
      const width = Math.max(1, slot / series.length - (slot > 6 ? 1 : 0));
      return svg(
        "g",
        { class: s.cls },
        ...s.values.map((v, m) =>
          svg("rect", { x: x(m) + index * width, y: y(v), width, height: y(0) - y(v) }, svg("title", {}, `${label(m)}: ${v} ${s.name}`)),
        ),
      );
    }
    const points = s.values.map((v, m) => `${(x(m) + slot / 2).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    return svg("polyline", { points, class: `line ${s.cls}` }, svg("title", {}, s.name));
  });
  const legend = series.map((s, index) =>
    svg(
      "g",
      { class: s.cls },
      svg("rect", { x: LEFT + index * 90, y: 2, width: 10, height: 10, class: "swatch" }),
      svg("text", { x: LEFT + 14 + index * 90, y: 11, class: "legend" }, s.name),
    ),
  );
  return svg(
    "svg",
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "chart report-chart",
      role: "img",
      "aria-label": series.map((s) => `${s.name} per minute: peak ${Math.max(0, ...s.values)}`).join("; "),
      "data-testid": testId,
    },
    ...grid,
    ...marks,
    ...(series.length > 1 ? legend : []),
  );
}
