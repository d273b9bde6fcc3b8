// The console's entry point: a hash router over the views, and the top bar.

import { UNAUTHENTICATED } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { currentUser, signOut } from "./session.js";
import { partiesView } from "./views/parties.js";
import { partyView } from "./views/party.js";
import { scheduleView } from "./views/schedule.js";
import { signInView } from "./views/signin.js";

const ROUTES = [
  [/^#\/parties$/, partiesView],
  [/^#\/schedule$/, scheduleView],
  [/^#\/party\/([^/]+)$/, partyView, (match) => ({ id: decodeURIComponent(match[1]) })],
];

const view = document.getElementById("view");
const nav = document.getElementById("nav");
let current = null; // the shown view's {el, cleanup?}
let notice = null; // said once on the sign-in view (why the user was signed out)

function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function renderNav(user) {
  if (!user) {
    nav.replaceChildren();
    return;
  }
  const signOutButton = h("button", { type: "button", class: "link" }, "Sign out");
  signOutButton.addEventListener("click", () => {
    signOut();
    navigate("#/signin");
  });
  replaceChildren(
    nav,
    h("a", { href: "#/parties" }, "Parties"),
    user.role === "host" ? h("a", { href: "#/schedule" }, "Schedule") : null,
    h("span", { class: "who", "data-testid": "who" }, `${user.userId} (${user.role})`),
    signOutButton,
  );
}

function pick(user) {
  if (!user) return [signInView, {}];
  for (const [pattern, make, params] of ROUTES) {
    const match = location.hash.match(pattern);
    if (match) return [make, params ? params(match) : {}];
  }
  return [partiesView, {}];
}

function render() {
  current?.cleanup?.();
  const user = currentUser();
  renderNav(user);
  const [make, params] = pick(user);
  current = make({ user, params, navigate, notice });
  notice = null;
  view.replaceChildren(current.el);
  document.title = `Party engine · ${current.el.querySelector("h1")?.textContent || "console"}`;
}

window.addEventListener(UNAUTHENTICATED, (event) => {
  if (!currentUser()) return; // a token being tried on the sign-in view
  signOut();
  notice = `Signed out: ${event.detail.message}`;
  navigate("#/signin");
});
window.addEventListener("hashchange", render);
render();
