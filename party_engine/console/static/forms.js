// Forms whose errors come from the API: each field has a slot for its message, and a 422
// problem's errors[].field picks the slot. Anything not tied to a field goes to the form's top.

import { h } from "./dom.js";

/** A labelled input with an error slot; `name` is the API's field name (e.g. "theme.value"). */
export function field(label, name, input, hint = null) {
  const id = `field-${name.replace(/\W/g, "-")}`;
  input.id = id;
  input.name = name;
  const error = h("div", { class: "field-error", "data-error-for": name, id: `${id}-error`, role: "alert" });
  input.setAttribute("aria-describedby", error.id);
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label),
    input,
    hint ? h("div", { class: "hint" }, hint) : null,
    error,
  );
}

export function formError() {
  return h("div", { class: "form-error", role: "alert", "data-testid": "form-error" });
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for], .form-error")) slot.textContent = "";
  for (const box of form.querySelectorAll(".field.invalid")) box.classList.remove("invalid");
}

/** Show an ApiError (or any error) on the form; returns nothing. */
export function showErrors(form, error) {
  clearErrors(form);
  const unplaced = [];
  const byField = error.fieldErrors || {};
  for (const [name, detail] of Object.entries(byField)) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (slot) {
      slot.textContent = detail;
      slot.closest(".field").classList.add("invalid");
    } else {
      unplaced.push(`${name}: ${detail}`);
    }
  }
  const top = form.querySelector(".form-error");
  if (!Object.keys(byField).length) top.textContent = error.message || String(error);
  else if (unplaced.length) top.textContent = unplaced.join("; ");
}
