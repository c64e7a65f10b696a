// The sign-in page: through the OpenID provider when the gateway names one, else with a
// development token (the link `make run` prints, or one pasted here).

import { keep } from "./auth.js";
import { h } from "./dom.js";
import { signIn } from "./oidc.js";

export function renderSignIn(main, config, reason) {
  document.title = "Sign in · Dealgate review console";
  const notice = reason ? h("p", { class: "problem", role: "alert" }, reason) : null;
  if (config.oidc) {
    main.replaceChildren(h("section", { class: "panel narrow" },
      h("h1", { tabindex: "-1" }, "Sign in"),
      notice,
      h("p", {}, "Sign in with your company account to review the promises awaiting your sign-off."),
      h("button", { type: "button", class: "primary", onclick: () => signIn(config.oidc) }, "Sign in")));
    return;
  }
  const field = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true });
  main.replaceChildren(h("section", { class: "panel narrow" },
    h("h1", { tabindex: "-1" }, "Sign in"),
    notice,
    h("p", {}, "Open the sign-in link that ", h("code", {}, "make run"), " prints, or paste a token from ",
      h("code", {}, "make token ROLE=pm SUB=you@example.com"), "."),
    h("form", {
      onsubmit: (event) => {
        event.preventDefault();
        keep(field.value.trim());
        location.hash = "#/queue";
        location.reload();
      },
    },
    h("label", { for: "token" }, "Bearer token"), field,
    h("button", { type: "submit", class: "primary" }, "Use this token"))));
}
