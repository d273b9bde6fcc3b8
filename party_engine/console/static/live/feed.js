// The party's feed: shares as they arrive, newest first, with their like counts; the host's
// picks highlighted, removed shares gone. Items of kinds this page does not know are ignored.

import { formatPrice, formatTime, h, replaceChildren } from "../dom.js";

const PLACEHOLDER_IMAGE = "/console/listing-placeholder.svg";
const MAX_CARDS = 200;

/** What the page knows of a party: its shares and like counts, both keyed by share offset,
 * and the offsets of the shares the host picked. */
export class FeedModel {
  constructor() {
    this.shares = new Map();
    this.likes = new Map();
    this.picks = new Set();
  }

  replace(snapshot) {
    this.shares.clear();
    this.likes.clear();
    this.picks = new Set(snapshot.picks || []);
    for (const item of snapshot.shares || []) this.shares.set(item.share, item);
    for (const [share, count] of Object.entries(snapshot.likes || {})) this.likes.set(Number(share), count);
  }

  apply(items) {
    for (const item of items) {
      if (item.kind === "share") this.shares.set(item.share, item);
      else if (item.kind === "like") this.likes.set(item.share, item.likes);
      else if (item.kind === "pick") this.picks.add(item.share);
      else if (item.kind === "unpick") this.picks.delete(item.share);
      else if (item.kind === "removed") {
        this.shares.delete(item.share);
        this.likes.delete(item.share);
        this.picks.delete(item.share);
      }
    }
  }

  newestFirst() {
    return [...this.shares.values()].sort((a, b) => b.offset - a.offset).slice(0, MAX_CARDS);
  }

  likesOf(share) {
    return this.likes.get(share) || 0;
  }
}

function listingImage(listing) {
  const img = h("img", {
    class: "listing-image",
    src: listing.image_urls[0] || PLACEHOLDER_IMAGE,
    alt: "",
    loading: "lazy",
    referrerpolicy: "no-referrer",
  });
  img.addEventListener("error", () => (img.src = PLACEHOLDER_IMAGE), { once: true });
  return img;
}

/** A button that runs action() -> Promise, disabled meanwhile; a refusal shows in `note`. */
function actionButton(label, testId, note, action, className = "small") {
  const button = h("button", { class: className, type: "button", "data-testid": testId }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    note.textContent = "";
    try {
      await action();
    } catch (error) {
      note.textContent = error.message || String(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** onLike(shareOffset) -> Promise, or null for a read-only feed (the host's view).
 * host: {pick(share, picked), remove(share), mute(user)} -> Promise, for the host and co-hosts. */
function shareCard(item, onLike, host) {
  const { listing } = item;
  const likeCount = h("span", { class: "like-count", "data-testid": "like-count" });
  const card = h(
    "li",
    { class: "share-card", "data-share": item.share, "data-testid": "share-card" },
    listingImage(listing),
    h(
      "div",
      { class: "share-body" },
      h("div", { class: "share-title" }, listing.title),
      h("div", { class: "share-meta" }, `${listing.brand} · ${formatPrice(listing.price_cents, listing.currency)}`),
      h("div", { class: "share-by muted" }, `shared by ${item.user} · ${formatTime(item.at)}`),
    ),
    h("div", { class: "share-actions" }, h("span", { class: "pick-badge", "data-testid": "pick-badge" }, "★ Host pick"), likeCount),
  );
  if (host) {
    const note = h("span", { class: "field-error", role: "alert" });
    const pick = actionButton("Pick", "pick-share", note, () => host.pick(item.share, !card.classList.contains("picked")));
    const remove = actionButton("Remove", "remove-share", note, () => host.remove(item.share), "small danger");
    const mute = actionButton(`Mute ${item.user}`, "mute-sharer", note, () => host.mute(item.user), "small");
    card.querySelector(".share-actions").append(pick, remove, mute, note);
  }
  if (onLike) {
    const note = h("span", { class: "field-error", role: "alert" });
    const button = h("button", { class: "small", type: "button" }, "Like");
    button.addEventListener("click", async () => {
      button.disabled = true;
      note.textContent = "";
      try {
        await onLike(item.share);
      } catch (error) {
        note.textContent = error.message || String(error);
      } finally {
        button.disabled = false;
      }
    });
    card.querySelector(".share-actions").append(button, note);
  }
  return card;
}

export class FeedView {
  constructor(model, { onLike = null, host = null } = {}) {
    this.model = model;
    this.onLike = onLike;
    this.host = host;
    this.list = h("ul", { class: "feed", "data-testid": "feed" });
    this.empty = h("p", { class: "muted" }, "No shares yet.");
    this.el = h("div", {}, this.empty, this.list);
  }

  render() {
    const items = this.model.newestFirst();
    this.empty.hidden = items.length > 0;
    // Cards already on screen are kept (a click in progress survives), only their counts change.
    const existing = new Map([...this.list.children].map((card) => [Number(card.dataset.share), card]));
    const cards = items.map((item) => {
      const card = existing.get(item.share) || shareCard(item, this.onLike, this.host);
      card.querySelector(".like-count").textContent = `♥ ${this.model.likesOf(item.share)}`;
      const picked = this.model.picks.has(item.share);
      card.classList.toggle("picked", picked);
      const pick = card.querySelector('[data-testid="pick-share"]');
      if (pick) pick.textContent = picked ? "Unpick" : "Pick";
      return card;
    });
    replaceChildren(this.list, cards);
  }
}
