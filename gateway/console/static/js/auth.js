// The signed-in person's bearer token: kept in sessionStorage (gone with the tab), read from
// the address's fragment once (the development link), and never put in a query string.

const KEY = "dealgate.token";

export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (!given) return false;
  keep(given);
  // Out of the address bar and the history at once, so it is not copied or bookmarked.
  history.replaceState(null, "", `${location.pathname}#/queue`);
  return true;
}

export const token = () => sessionStorage.getItem(KEY);
export const keep = (value) => sessionStorage.setItem(KEY, value);
export const forget = () => sessionStorage.removeItem(KEY);

// What the token says about the person, for display only: the gateway verifies it.
export function claims() {
  const value = token();
  if (!value) return null;
  try {
    const payload = value.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

export function signedIn() {
  const found = claims();
  return Boolean(found && (!found.exp || found.exp * 1000 > Date.now()));
}
