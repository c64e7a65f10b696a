// OpenID Connect sign-in: the authorization code flow with PKCE (RFC 7636, S256), run by
// the browser as a public client. The verifier and state wait in sessionStorage for the
// provider to send the person back to this page with ?code=&state=.

const PENDING = "dealgate.oidc";

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

const redirectUri = () => `${location.origin}${location.pathname}`;

export async function signIn(oidc) {
  const verifier = randomString();
  const state = randomString();
  // The provider puts the nonce in the ID token only, never in an access token: the gateway
  // refuses a token carrying one, so an ID token cannot stand in for an access token.
  const nonce = randomString();
  const back = location.hash.startsWith("#/") ? location.hash : "#/queue";
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, back }));
  const url = new URL(oidc.authorization_endpoint);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    scope: oidc.scopes,
    state,
    nonce,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  })) url.searchParams.set(name, value);
  location.assign(url.href);
}

// The access token when this page is the provider's answer, null when it is not.
export async function finishSignIn(oidc) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  // The code is single-use: out of the address bar before anything can copy it.
  history.replaceState(null, "", `${location.pathname}${pending?.back || "#/queue"}`);
  if (params.has("error")) {
    throw new Error(`The sign-in provider refused: ${params.get("error_description") || params.get("error")}.`);
  }
  if (!pending || params.get("state") !== pending.state) {
    throw new Error("The sign-in answer does not belong to a sign-in begun here. Sign in again.");
  }
  const response = await fetch(oidc.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: redirectUri(),
      client_id: oidc.client_id,
      code_verifier: pending.verifier,
    }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(`The sign-in provider issued no token: ${answer.error_description || answer.error || response.status}.`);
  }
  return answer.access_token;
}
