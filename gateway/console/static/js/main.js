// Starts the console: learn how to sign in, take the token (fragment or provider), then
// show the view the address names.

import { whenUnauthorized } from "./api.js";
import { claims, forget, signedIn, takeTokenFromFragment, keep } from "./auth.js";
import { renderCommitment } from "./commitment.js";
import { renderDeal } from "./deal.js";
import { problemBox } from "./dom.js";
import { finishSignIn } from "./oidc.js";
import { renderQueue } from "./queue.js";
import { renderReports } from "./reports.js";
import { startRouter } from "./router.js";
import { renderSignIn } from "./signin.js";

const main = document.getElementById("main");

async function boot() {
  const response = await fetch("config.json");
  if (!response.ok) throw new Error((await response.json().catch(() => null))?.detail || "The console's settings could not be read.");
  const config = await response.json();
  // The development link's token only where people do not sign in through a provider: else
  // a link carrying someone else's token would sign a person in as them without a word.
  if (!config.oidc) {
    takeTokenFromFragment();
  } else {
    try {
      const token = await finishSignIn(config.oidc);
      if (token) keep(token);
    } catch (error) {
      renderSignIn(main, config, error.message);
      return;
    }
  }
  if (!signedIn()) {
    forget();
    renderSignIn(main, config);
    return;
  }
  whenUnauthorized(() => {
    forget();
    document.getElementById("who").hidden = true;
    renderSignIn(main, config, "Your session has ended. Sign in again.");
  });
  showWho();
  startRouter(main, [
    [/^#\/queue$/, renderQueue],
    [/^#\/commitments\/([0-9a-fA-F-]{36})$/, renderCommitment],
    [/^#\/deals\/([0-9a-fA-F-]{36})$/, renderDeal],
    [/^#\/reports$/, renderReports],
  ]);
}

function showWho() {
  const person = claims();
  document.getElementById("who-name").textContent = `${person.sub} (${(person.roles || []).join(", ")})`;
  document.getElementById("who").hidden = false;
  document.getElementById("sign-out").addEventListener("click", () => {
    forget();
    location.assign(location.pathname);
  });
}

boot().catch((error) => main.replaceChildren(problemBox(error)));
