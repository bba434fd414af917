// The page: who is signed in, and which view shows (#/browse, #/upload, #/log/<upload id>, and #/status for
// operators).

import { ApiError, call, rememberCsrfToken } from "./api.js";
import { Browse } from "./browse.js";
import { LogViewer } from "./log_viewer.js";
import { StatusView } from "./status.js";
import { UploadForm } from "./upload.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["loading", "sign-in-view", "no-access-view", "app-view"];
const TABS = ["browse", "upload", "log", "status"];
const ADMIN = "imaging_uploader_admin";

let session = null;
let browse = null;
let upload = null;
let logViewer = null;
let statusView = null;

function isOperator(answer) {
  return answer.permissions.includes(ADMIN);
}

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
  if (statusView) statusView.stop();
  rememberCsrfToken(null);
  history.replaceState(null, "", "#/browse");
  showSignIn("You are signed out.");
}

function enter(answer) {
  session = answer;
  rememberCsrfToken(answer.csrf_token);
  $("who-name").textContent = `Signed in as ${answer.username}`;
  $("who").hidden = false;
  if (!answer.may_use_uploader && !isOperator(answer)) {
    $("no-access-text").textContent =
      `User ${answer.username} has no imaging uploader permission, so there is nothing to browse or upload here.`;
    show("no-access-view");
    return;
  }
  if (answer.may_use_uploader) {
    browse = browse || new Browse((uploadId) => { location.hash = `#/log/${uploadId}`; });
    logViewer = logViewer || new LogViewer();
    upload = upload || new UploadForm(answer.max_upload_bytes, (uploadId, attempt) => {
      logViewer.awaitAttempt(uploadId, attempt);
      location.hash = `#/log/${uploadId}`;
    });
  }
  if (isOperator(answer)) statusView = statusView || new StatusView();
  // An operator without an uploader permission sees the Status tab only.
  $("tab-browse").hidden = !answer.may_use_uploader;
  $("tab-upload").hidden = !answer.may_use_uploader;
  $("tab-log").hidden = true;
  $("tab-status").hidden = !isOperator(answer);
  show("app-view");
  route();
}

/** The view the address asks for, among those this user may see. */
function currentView(hash) {
  const wanted = /^#\/log\/\d+$/.test(hash) ? "log" : { "#/upload": "upload", "#/status": "status" }[hash] || "browse";
  if (!session.may_use_uploader) return "status";
  if (wanted === "status" && !isOperator(session)) return "browse";
  return wanted;
}

function route() {
  if (!session || !(session.may_use_uploader || isOperator(session))) return;
  const hash = location.hash || "#/browse";
  const current = currentView(hash);
  for (const name of TABS) {
    $(`${name}-view`).hidden = name !== current;
    const tab = $(`tab-${name}`);
    if (name === current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (current === "log") {
    $("tab-log").hidden = false;
    $("tab-log").href = hash;
    logViewer.open(Number(hash.slice("#/log/".length)));
  } else if (logViewer) {
    logViewer.close();
  }
  if (browse) {
    if (current === "browse") browse.start();
    else browse.stop();
  }
  if (statusView) {
    if (current === "status") statusView.start();
    else statusView.stop();
  }
}

start();
