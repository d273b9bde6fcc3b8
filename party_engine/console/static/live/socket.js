// One party over the public WebSocket API, kept joined across disconnects. The token goes in
// the first frame ({type: "auth"}), never in the URL, so no proxy or server log keeps it.
//
// The socket remembers the last position it saw ({offset, epoch}) and rejoins with `since`,
// so the server replays exactly what was missed ("recovered") or answers with a fresh
// snapshot ("resynced"). Reconnects back off exponentially with jitter, and a `drain` frame's
// retry_after_ms is honoured, so a restarting gateway does not get a thundering herd.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const PING_EVERY_MS = 25000;
// Close codes after which reconnecting cannot help.
const FINAL_CLOSE_CODES = new Map([
  [4401, "the server refused the token; sign in again"],
  [4403, "this page's origin is not allowed by the server"],
]);

function jittered(ms) {
  return Math.round(ms * (0.5 + Math.random()));
}

export class PartySocket {
  /**
   * handlers: {
   *   status(state, detail)  state: connecting | joined | recovered | resynced | reconnecting
   *                          | refused (join answered with an error) | closed (final) | error (unsolicited)
   *   joined(frame, {replaceFeed})  events(items)  presence(count)  party(state)
   * }
   */
  constructor({ token, party, handlers }) {
    this.token = token;
    this.party = party;
    this.handlers = handlers;
    this.position = null;
    this.attempt = 0;
    this.nextFrameId = 1;
    this.joinId = null;
    this.pending = new Map(); // frame id -> {resolve, reject}
    this.stopped = false;
    this.drainDelayMs = null;
    this.ws = null;
    this.retryTimer = null;
    this.pingTimer = null;
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000, "leaving the page");
    this.rejectPending("the page left the party");
  }

  /** Join the party, from the last position seen when there is one.
   * The server answers a join with `joined` (which carries no id) or an `error` with our id. */
  join() {
    const join = { type: "join", party: this.party };
    if (this.position) join.since = this.position;
    this.joinId = this.nextFrameId;
    return this.request(join);
  }

  /** Send a frame that the server acknowledges; resolves with the ack, rejects with the error frame. */
  request(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject({ code: "disconnected", message: "not connected; try again in a moment" });
    }
    const id = this.nextFrameId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/ws`;
    this.handlers.status(this.attempt === 0 ? "connecting" : "reconnecting", { attempt: this.attempt });
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token: this.token }));
      this.join().catch((error) => {
        // A join cut short by a disconnect is retried by the reconnect; only a refusal is final.
        if (error.code !== "disconnected") this.handlers.status("refused", error);
      });
      this.pingTimer = setInterval(() => this.request({ type: "ping" }).catch(() => {}), PING_EVERY_MS);
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (event) => this.closed(ws, event);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the server only sends JSON; nothing sensible to do with anything else
    }
    switch (frame.type) {
      case "joined":
        return this.joined(frame);
      case "events":
        return this.events(frame.items);
      case "presence":
        return this.handlers.presence(frame.count);
      case "party":
        return this.handlers.party(frame.state);
      case "ack":
      case "pong":
        return this.settle(frame.id, "resolve", frame);
      case "error":
        return this.settle(frame.id, "reject", frame);
      case "drain":
        // The server closes the socket next; closed() waits about this long before reconnecting.
        this.drainDelayMs = frame.retry_after_ms;
        return;
    }
  }

  joined(frame) {
    this.settle(this.joinId, "resolve", frame);
    this.attempt = 0;
    const rejoined = this.position !== null;
    const recovered = frame.recovered === true;
    // When recovered, frame.position is where the replay that follows will leave us; until the
    // replayed events arrive, we stand where we asked to resume from.
    if (!recovered) this.position = frame.position;
    this.handlers.joined(frame, { replaceFeed: !recovered });
    this.handlers.status(rejoined ? (recovered ? "recovered" : "resynced") : "joined", frame);
  }

  events(items) {
    const fresh = [];
    for (const item of items) {
      if (this.position && item.offset <= this.position.offset) continue; // already seen
      if (this.position && item.offset > this.position.offset + 1) {
        // A gap: reconnect, and the join with `since` fills it from history.
        this.ws.close(4000, "gap in offsets");
        break;
      }
      fresh.push(item);
      if (this.position) this.position = { ...this.position, offset: item.offset };
    }
    if (fresh.length) this.handlers.events(fresh);
  }

  settle(id, outcome, frame) {
    const waiter = this.pending.get(id);
    if (!waiter) {
      if (outcome === "reject") this.handlers.status("error", frame);
      return;
    }
    this.pending.delete(id);
    waiter[outcome](frame);
  }

  rejectPending(message) {
    for (const waiter of this.pending.values()) waiter.reject({ code: "disconnected", message });
    this.pending.clear();
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    this.rejectPending("the connection closed before the server answered");
    if (this.stopped) return;
    const final = FINAL_CLOSE_CODES.get(event.code);
    if (final) {
      this.handlers.status("closed", { code: event.code, message: final });
      return;
    }
    const drain = this.drainDelayMs !== null;
    const backoff = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delayMs = jittered(drain ? this.drainDelayMs : backoff);
    this.drainDelayMs = null;
    this.attempt += 1;
    this.handlers.status("reconnecting", { attempt: this.attempt, delayMs, code: event.code, drain });
    this.retryTimer = setTimeout(() => this.connect(), delayMs);
  }
}
