// The public HTTP API. Errors arrive as RFC 9457 problems; ApiError carries them.

import { currentUser } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = (this.problem.type || "").replace("urn:party-engine:problem:", "");
  }

  /** Field errors of a 422 problem, keyed by field name ("title", "theme.value", ...). */
  get fieldErrors() {
    const byField = {};
    for (const item of this.problem.errors || []) {
      byField[item.field] = byField[item.field] ? `${byField[item.field]}; ${item.detail}` : item.detail;
    }
    return byField;
  }
}

/** The page listens for this to send the user back to sign-in when the server refuses the token. */
export const UNAUTHENTICATED = "party-engine:unauthenticated";

export async function api(method, path, body, token = currentUser()?.token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHENTICATED, { detail: error }));
    throw error;
  }
  return data;
}

/** GET an NDJSON resource (the party archive): its lines, parsed. Errors as for api(). */
export async function apiLines(path, token = currentUser()?.token) {
  const headers = { Accept: "application/x-ndjson, application/problem+json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers });
  if (!response.ok) {
    const error = new ApiError(response.status, await response.json().catch(() => null));
    if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHENTICATED, { detail: error }));
    throw error;
  }
  const text = await response.text();
  return text.split("\n").filter((line) => line).map((line) => JSON.parse(line));
}
