// Calls to the gateway's /api/v1, signed in by the session cookie. Every request that changes something
// carries the session's CSRF token.

let csrfToken = null;

export function rememberCsrfToken(token) {
  csrfToken = token;
}

export function csrfHeaders() {
  return csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

/** Thrown when the server cannot be reached at all (no HTTP answer). */
export class Unreachable extends Error {}

/** Thrown for an answer that is not the one expected; `body` is the API's error body when there is one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(firstMessage(body) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }

  get errors() {
    return (this.body && this.body.errors) || [];
  }
}

function firstMessage(body) {
  if (!body || !body.error) return null;
  return typeof body.error === "string" ? body.error : body.error.message;
}

/** JSON answer of `method path`; throws ApiError on a status outside `ok` and Unreachable without an answer. */
export async function call(method, path, { json, ok = [200] } = {}) {
  const headers = { Accept: "application/json", ...(method === "GET" ? {} : csrfHeaders()) };
  const init = { method, headers, credentials: "same-origin" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (error) {
    throw new Unreachable("The server cannot be reached; check the network connection.");
  }
  const body = await readJson(answer);
  if (!ok.includes(answer.status)) throw new ApiError(answer.status, body);
  return body;
}

async function readJson(answer) {
  if (answer.status === 204) return null;
  try {
    return await answer.json();
  } catch (error) {
    return null;
  }
}

export function uploadPath(uploadId, rest = "") {
  return `/api/v1/uploads/${encodeURIComponent(uploadId)}${rest}`;
}
