// Sign in by pasting a token made by `party-engine token`.

import { api } from "../api.js";
import { h } from "../dom.js";
import { clearErrors, field, formError, showErrors } from "../forms.js";
import { signIn, userOf } from "../session.js";

export function signInView({ navigate, notice }) {
  const token = h("textarea", { rows: 4, spellcheck: "false", autocomplete: "off", placeholder: "eyJhbGciOi…" });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", {}, "Sign in"),
    notice ? h("p", { class: "notice" }, notice) : null,
    h("p", {}, "Paste a token. Make one on the server with:"),
    h("pre", { class: "command" }, "party-engine token --user alice --role host\nparty-engine token --user bob --role shopper"),
    field("Token", "token", token),
    formError(),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const pasted = token.value.trim();
    const user = userOf(pasted);
    if (!user) {
      showErrors(form, { fieldErrors: { token: "this is not a readable, unexpired token" } });
      return;
    }
    try {
      await api("GET", "/me/follows", undefined, pasted); // any call that needs a valid token
    } catch (error) {
      showErrors(form, { fieldErrors: { token: error.message } });
      return;
    }
    signIn(pasted);
    navigate("#/parties");
  });
  return { el: form };
}
