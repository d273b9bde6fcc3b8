// The connection's state in words, shown honestly: never "live" while reconnecting.

import { h } from "../dom.js";

function seconds(ms) {
  return (ms / 1000).toFixed(1);
}

function reconnectReason(detail) {
  if (detail.drain) return "server draining, ";
  return detail.code ? `closed ${detail.code}, ` : "";
}

function describe(state, detail = {}) {
  switch (state) {
    case "connecting":
      return ["pending", "connecting…"];
    case "joined":
      return ["ok", "connected"];
    case "recovered":
      return ["ok", "recovered: the missed events were replayed"];
    case "resynced":
      return ["warn", "resynced: history was gone, showing a fresh snapshot"];
    case "reconnecting":
      if (detail.delayMs === undefined) return ["warn", "reconnecting…"];
      return ["warn", `reconnecting… (${reconnectReason(detail)}attempt ${detail.attempt}, in ${seconds(detail.delayMs)} s)`];
    case "refused":
      return ["bad", `not joined: ${detail.message || detail.code}`];
    case "closed":
      return ["bad", `disconnected: ${detail.message}`];
    case "error":
      return ["bad", `${detail.code}: ${detail.message}`];
    default:
      return ["pending", state];
  }
}

export class StatusBadge {
  constructor() {
    this.el = h("span", { class: "status pending", "data-testid": "connection-status" }, "offline");
  }

  show(state, detail) {
    const [tone, text] = describe(state, detail);
    this.el.className = `status ${tone}`;
    this.el.dataset.state = state;
    this.el.textContent = text;
  }
}
