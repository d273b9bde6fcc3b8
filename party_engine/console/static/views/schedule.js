// The schedule form. The API is the judge of what is valid; its 422 field errors are shown
// next to the matching inputs.

import { api } from "../api.js";
import { h } from "../dom.js";
import { clearErrors, field, formError, showErrors } from "../forms.js";

const THEME_KINDS = ["brand", "category", "season", "style"];

function localInputValue(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

export function scheduleView({ navigate }) {
  const inOneHour = new Date(Date.now() + 3600 * 1000);
  const inputs = {
    title: h("input", { type: "text", maxlength: 200 }),
    kind: h("select", {}, ...THEME_KINDS.map((kind) => h("option", { value: kind }, kind))),
    value: h("input", { type: "text", maxlength: 100, placeholder: "e.g. Nike, Shoes, Summer" }),
    startsAt: h("input", { type: "datetime-local", value: localInputValue(inOneHour) }),
    duration: h("input", { type: "number", value: 120, step: 15 }),
    description: h("textarea", { rows: 3, maxlength: 2000 }),
  };
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", {}, "Schedule a party"),
    field("Title", "title", inputs.title),
    h(
      "div",
      { class: "row" },
      field("Theme kind", "theme.kind", inputs.kind),
      field("Theme", "theme.value", inputs.value),
    ),
    h(
      "div",
      { class: "row" },
      field("Starts at", "starts_at", inputs.startsAt, `your local time (${Intl.DateTimeFormat().resolvedOptions().timeZone})`),
      field("Duration (minutes)", "duration_minutes", inputs.duration, "15 to 360"),
    ),
    field("Description", "description", inputs.description),
    formError(),
    h("button", { type: "submit" }, "Schedule"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const startsAt = new Date(inputs.startsAt.value);
    const body = {
      title: inputs.title.value,
      theme: { kind: inputs.kind.value, value: inputs.value.value },
      duration_minutes: inputs.duration.value === "" ? undefined : Number(inputs.duration.value),
      starts_at: Number.isNaN(startsAt.getTime()) ? undefined : startsAt.toISOString(),
      description: inputs.description.value.trim() || undefined,
    };
    try {
      const party = await api("POST", "/parties", body);
      navigate(`#/party/${encodeURIComponent(party.id)}`);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return { el: form };
}
