// The public /v1 API with the person's token. A refusal is thrown as a Problem carrying the
// RFC 9457 problem's status, title and detail, which the views show as they are.

import { token } from "./auth.js";

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `The gateway answered ${status}.`);
    this.status = status;
    this.title = body?.title || "Refused";
  }
}

let onUnauthorized = () => {};
export const whenUnauthorized = (handler) => { onUnauthorized = handler; };

export async function api(path, { method = "GET", body, etag } = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-Match"] = etag;
  const response = await fetch(`/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new Problem(response.status, data);
  return { data, etag: response.headers.get("ETag") };
}
