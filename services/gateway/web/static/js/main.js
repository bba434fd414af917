// The page: who is signed in, and which view shows (#/browse, #/upload, #/log/<upload id>).

import { ApiError, call, rememberCsrfToken } from "./api.js";
import { Browse } from "./browse.js";
import { LogViewer } from "./log_viewer.js";
import { UploadForm } from "./upload.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["loading", "sign-in-view", "no-access-view", "app-view"];

let session = null;
let browse = null;
let upload = null;
let logViewer = null;

function show(viewId) {
  for (const id of VIEWS) $(id).hidden = id !== viewId;
}

async function start() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  try {
    enter(await call("GET", "/api/v1/session"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showSignIn();
    } else {
      $("loading").textContent = `${error.message} Reload the page to try again.`;
    }
  }
}

function showSignIn(message = "") {
  session = null;
  $("who").hidden = true;
  $("sign-in-error").textContent = message;
  show("sign-in-view");
  $("sign-in-username").focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  $("sign-in-error").textContent = "";
  try {
    const answer = await call("POST", "/api/v1/session", {
      json: { username: form.username.value.trim(), password: form.password.value },
    });
    form.reset();
    enter(answer);
  } catch (error) {
    $("sign-in-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await call("DELETE", "/api/v1/session", { ok: [204] });
  } catch (error) {
    // Whatever the server said, this page forgets the session.
  }
  if (logViewer) logViewer.close();
  if (browse) browse.stop();
  rememberCsrfToken(null);
  history.replaceState(null, "", "#/browse");
  showSignIn("You are signed out.");
}

function enter(answer) {
  session = answer;
  rememberCsrfToken(answer.csrf_token);
  $("who-name").textContent = `Signed in as ${answer.username}`;
  $("who").hidden = false;
  if (!answer.may_use_uploader) {
    $("no-access-text").textContent =
      `User ${answer.username} has no imaging uploader permission, so there is nothing to browse or upload here.`;
    show("no-access-view");
    return;
  }
  browse = browse || new Browse((uploadId) => { location.hash = `#/log/${uploadId}`; });
  upload = upload || new UploadForm(answer.max_upload_bytes, (uploadId) => { location.hash = `#/log/${uploadId}`; });
  logViewer = logViewer || new LogViewer();
  show("app-view");
  route();
}

function route() {
  if (!session || !session.may_use_uploader) return;
  const hash = location.hash || "#/browse";
  const logMatch = hash.match(/^#\/log\/(\d+)$/);
  const current = logMatch ? "log" : hash === "#/upload" ? "upload" : "browse";
  for (const name of ["browse", "upload", "log"]) {
    $(`${name}-view`).hidden = name !== current;
    const tab = $(`tab-${name}`);
    if (name === current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (current === "log") {
    $("tab-log").hidden = false;
    $("tab-log").href = hash;
    logViewer.open(Number(logMatch[1]));
  } else {
    logViewer.close();
  }
  if (current === "browse") browse.start();
  else browse.stop();
}

start();
