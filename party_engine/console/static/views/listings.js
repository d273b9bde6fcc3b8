// A shopper's own listings: create one (POST /listings) and share it into the party.
// The API has no "my listings" query, so the page remembers what it created, per user.

import { api } from "../api.js";
import { formatPrice, h } from "../dom.js";
import { clearErrors, field, formError, showErrors } from "../forms.js";

function storageKey(user) {
  return `party-engine.listings.${user.userId}`;
}

function remembered(user) {
  try {
    return JSON.parse(sessionStorage.getItem(storageKey(user))) || [];
  } catch {
    return [];
  }
}

function remember(user, listing) {
  sessionStorage.setItem(storageKey(user), JSON.stringify([listing, ...remembered(user)].slice(0, 50)));
}

/** Prefill the field the party's theme is matched on, so a new listing fits the party. */
function themedDefaults(theme) {
  return {
    brand: theme.kind === "brand" ? theme.value : "",
    category: theme.kind === "category" ? theme.value : "",
    tags: theme.kind === "season" || theme.kind === "style" ? theme.value : "",
  };
}

function createForm(party, onCreated) {
  const defaults = themedDefaults(party.theme);
  const inputs = {
    title: h("input", { type: "text", maxlength: 200 }),
    brand: h("input", { type: "text", maxlength: 100, value: defaults.brand }),
    category: h("input", { type: "text", maxlength: 100, value: defaults.category }),
    price: h("input", { type: "number", min: 0, step: "0.01", inputmode: "decimal" }),
    currency: h("input", { type: "text", maxlength: 3, value: "USD", size: 4 }),
    image: h("input", { type: "url", placeholder: "https://…" }),
    tags: h("input", { type: "text", value: defaults.tags, placeholder: "comma separated" }),
  };
  const form = h(
    "form",
    { class: "listing-form", novalidate: true },
    h("h3", {}, "New listing"),
    field("Title", "title", inputs.title),
    h("div", { class: "row" }, field("Brand", "brand", inputs.brand), field("Category", "category", inputs.category)),
    h("div", { class: "row" }, field("Price", "price_cents", inputs.price), field("Currency", "currency", inputs.currency)),
    field("Image URL", "image_urls.0", inputs.image),
    field("Tags", "tags", inputs.tags),
    formError(),
    h("button", { type: "submit" }, "Create listing"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const price = inputs.price.value === "" ? undefined : Math.round(Number(inputs.price.value) * 100);
    const body = {
      title: inputs.title.value,
      brand: inputs.brand.value,
      category: inputs.category.value,
      price_cents: price,
      currency: inputs.currency.value.trim().toUpperCase(),
      image_urls: inputs.image.value.trim() ? [inputs.image.value.trim()] : [],
      tags: inputs.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean),
    };
    try {
      onCreated(await api("POST", "/listings", body));
      inputs.title.value = "";
      inputs.price.value = "";
      inputs.image.value = "";
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

function listingRow(listing, party, share) {
  const note = h("span", { class: "muted share-note", role: "status" });
  const button = h("button", { type: "button", class: "small" }, "Share");
  api("GET", `/parties/${encodeURIComponent(party.id)}/matches/${encodeURIComponent(listing.id)}`)
    .then((match) => (note.textContent = match.matches ? "" : `won't match: ${match.reason}`))
    .catch(() => {});
  button.addEventListener("click", async () => {
    button.disabled = true;
    note.className = "muted share-note";
    note.textContent = "sharing…";
    try {
      const ack = await share(listing.id);
      note.textContent = `shared (#${ack.offset ?? "?"})`;
    } catch (error) {
      note.className = "field-error share-note";
      note.textContent = error.message || error.code;
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "li",
    { class: "listing-row", "data-listing": listing.id, "data-testid": "my-listing" },
    h("div", {}, h("div", {}, listing.title), h("div", { class: "muted" }, `${listing.brand} · ${formatPrice(listing.price_cents, listing.currency)}`), note),
    button,
  );
}

/** share(listingId) -> Promise of the ack. */
export function listingsPanel({ user, party, share }) {
  const list = h("ul", { class: "listing-list" });
  const render = () => {
    const listings = remembered(user);
    list.replaceChildren(
      ...(listings.length
        ? listings.map((listing) => listingRow(listing, party, share))
        : [h("li", { class: "muted" }, "None yet: create one below, then share it.")]),
    );
  };
  render();
  return h(
    "section",
    { class: "card", "data-testid": "my-listings" },
    h("h2", {}, "Your listings"),
    list,
    createForm(party, (listing) => {
      remember(user, listing);
      render();
    }),
  );
}
