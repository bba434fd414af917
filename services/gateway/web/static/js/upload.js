// The Upload tab: the pre-flight check shows every failed rule beside its field before a byte is sent, then
// the file goes up with a progress bar (XMLHttpRequest streams a File from disk, so a multi-gigabyte file
// does not freeze the page), and can be cancelled.

import { ApiError, call, csrfHeaders } from "./api.js";
import { duration, size } from "./format.js";

const $ = (id) => document.getElementById(id);
const FIELD_INPUTS = {
  is_phantom: "upload-phantom", candid: "upload-candid", pscid: "upload-pscid",
  visit_label: "upload-visit", file: "upload-file",
};
const CHECK_DELAY_MS = 300;
const SPEED_WINDOW_MS = 5000;

export class UploadForm {
  constructor(maxUploadBytes, openLog) {
    this.maxUploadBytes = maxUploadBytes;
    this.openLog = openLog;
    this.checkTimer = null;
    this.checkNumber = 0;
    this.request = null;
    $("upload-limit").textContent = `Maximum file size: ${size(maxUploadBytes)}.`;
    const form = $("upload-form");
    form.addEventListener("input", () => this.fieldsChanged());
    form.addEventListener("change", () => this.fieldsChanged());
    form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    $("upload-cancel").addEventListener("click", () => this.cancel());
    $("overwrite-cancel").addEventListener("click", () => $("overwrite-dialog").close());
    this.showCandidateFields();
  }

  isPhantom() {
    return $("upload-phantom").value === "true";
  }

  file() {
    return $("upload-file").files[0] || null;
  }

  showCandidateFields() {
    $("candidate-fields").hidden = this.isPhantom();
  }

  fields(overwrite) {
    const phantom = this.isPhantom();
    const value = (id) => (phantom ? null : $(id).value.trim() || null);
    return {
      candid: value("upload-candid"), pscid: value("upload-pscid"), visit_label: value("upload-visit"),
      is_phantom: phantom, overwrite,
    };
  }

  filledIn() {
    if (!this.file()) return false;
    if (this.isPhantom()) return true;
    return ["upload-candid", "upload-pscid", "upload-visit"].every((id) => $(id).value.trim() !== "");
  }

  fieldsChanged() {
    this.showCandidateFields();
    $("upload-result").textContent = "";
    clearTimeout(this.checkTimer);
    if (!this.filledIn()) {
      this.showFailures([]);
      $("upload-check-status").textContent = "";
      return;
    }
    this.checkTimer = setTimeout(() => this.check(false).then((answer) => answer && this.showCheck(answer)),
      CHECK_DELAY_MS);
  }

  /** The pre-flight answer for the form as it is now; null when a newer check overtook it or it failed. */
  async check(overwrite) {
    const number = ++this.checkNumber;
    const file = this.file();
    try {
      const answer = await call("POST", "/api/v1/uploads/check", {
        json: { ...this.fields(overwrite), file_name: file.name, file_size: file.size },
      });
      return number === this.checkNumber ? answer : null;
    } catch (error) {
      if (number === this.checkNumber) this.showRequestError(error);
      return null;
    }
  }

  showCheck(answer) {
    const alreadyUploaded = answer.errors.find((e) => e.code === "already_uploaded");
    this.showFailures(answer.errors.filter((e) => e !== alreadyUploaded));
    if (answer.ok) {
      $("upload-check-status").textContent = "Ready to upload: every rule passes.";
    } else if (alreadyUploaded && answer.errors.length === 1) {
      $("upload-check-status").textContent =
        `This file was already uploaded (upload ${answer.existing.upload_id}, ${answer.existing.progress}); ` +
        "Upload will ask whether to overwrite it.";
    } else {
      $("upload-check-status").textContent = "Correct the fields marked above before uploading.";
    }
  }

  /** Each failure beside its field, and the field marked invalid; fields without one are cleared. */
  showFailures(errors) {
    for (const [field, inputId] of Object.entries(FIELD_INPUTS)) {
      const messages = errors.filter((e) => e.field === field).map((e) => e.message);
      const input = $(inputId);
      const errorId = `upload-${field}-error`;
      $(errorId).textContent = messages.join(" ");
      if (messages.length) {
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
      }
      const describedBy = field === "file" ? `upload-file-hint ${errorId}` : errorId;
      input.setAttribute("aria-describedby", describedBy);
    }
    const other = errors.filter((e) => !(e.field in FIELD_INPUTS)).map((e) => e.message);
    if (other.length) $("upload-result").textContent = other.join(" ");
  }

  showRequestError(error) {
    if (error instanceof ApiError && error.errors.length) {
      this.showFailures(error.errors);
      $("upload-check-status").textContent = "";
    } else {
      $("upload-check-status").textContent = error.message;
    }
  }

  async submit() {
    if (this.request) return;
    clearTimeout(this.checkTimer);
    if (!this.filledIn()) {
      this.showFailures(this.missingFields());
      return;
    }
    // Busy while the form is checked again: once it is not, the page has sent it, asked, or shown why not.
    $("upload-form").setAttribute("aria-busy", "true");
    try {
      const answer = await this.check(false);
      if (!answer) return;
      this.showCheck(answer);
      if (answer.ok) {
        this.send(false);
        return;
      }
      const onlyTaken = answer.errors.length === 1 && answer.errors[0].code === "already_uploaded";
      if (onlyTaken && answer.existing && answer.existing.may_overwrite) this.askOverwrite(answer.existing);
    } finally {
      $("upload-form").removeAttribute("aria-busy");
    }
  }

  missingFields() {
    const missing = [];
    if (!this.isPhantom()) {
      for (const [field, id, name] of [["candid", "upload-candid", "CandID"], ["pscid", "upload-pscid", "PSCID"],
        ["visit_label", "upload-visit", "Visit label"]]) {
        if ($(id).value.trim() === "") missing.push({ field, message: `Fill in the ${name}.` });
      }
    }
    if (!this.file()) missing.push({ field: "file", message: "Choose the archive to upload." });
    return missing;
  }

  askOverwrite(existing) {
    const dialog = $("overwrite-dialog");
    $("overwrite-text").textContent =
      `${this.file().name} was already uploaded as upload ${existing.upload_id} (${existing.progress}). ` +
      "Overwrite replaces that upload with this file.";
    $("overwrite-confirm").onclick = async () => {
      dialog.close();
      const again = await this.check(true);
      if (!again) return;
      this.showCheck(again);
      if (again.ok) this.send(true);
    };
    dialog.showModal();
    $("overwrite-confirm").focus();
  }

  send(overwrite) {
    const file = this.file();
    const fields = this.fields(overwrite);
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (value !== null) body.append(name, String(value));
    }
    body.append("file", file, file.name); // the file part must come last
    const request = new XMLHttpRequest();
    this.request = request;
    this.startProgress(file.size);
    request.upload.addEventListener("progress", (event) => this.progress(event.loaded, event.total || file.size));
    request.addEventListener("load", () => this.finished(request));
    request.addEventListener("error", () => this.stopped("The upload stopped: the server cannot be reached."));
    request.addEventListener("abort", () => this.stopped("Upload cancelled; nothing was kept on the server."));
    request.open("POST", "/api/v1/uploads");
    for (const [name, value] of Object.entries(csrfHeaders())) request.setRequestHeader(name, value);
    request.setRequestHeader("Accept", "application/json");
    request.send(body);
  }

  startProgress(total) {
    this.samples = [[performance.now(), 0]];
    $("upload-button").disabled = true;
    $("upload-progress").hidden = false;
    $("upload-result").textContent = "";
    this.progress(0, total);
  }

  progress(loaded, total) {
    const now = performance.now();
    this.samples.push([now, loaded]);
    while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) this.samples.shift();
    const [since, sentThen] = this.samples[0];
    const speed = now > since ? ((loaded - sentThen) * 1000) / (now - since) : 0;
    const percent = total ? Math.min(100, Math.floor((loaded * 100) / total)) : 0;
    $("upload-bar").setAttribute("aria-valuenow", String(percent));
    $("upload-bar").setAttribute("aria-valuetext", `${percent}%`);
    $("upload-bar-fill").style.width = `${percent}%`;
    const left = speed > 0 ? duration((total - loaded) / speed) : "—";
    $("upload-figures").textContent =
      `${percent}%: ${size(loaded)} of ${size(total)} sent, ${size(speed)}/s, time left ${left}`;
  }

  finished(request) {
    this.request = null;
    $("upload-button").disabled = false;
    $("upload-progress").hidden = true;
    let body = null;
    try {
      body = JSON.parse(request.responseText);
    } catch (error) {
      body = null;
    }
    if (request.status === 202 && body) {
      $("upload-form").reset();
      this.showFailures([]);
      $("upload-check-status").textContent = "";
      this.showCandidateFields();
      $("upload-result").textContent = `Uploaded ${body.file_name} as upload ${body.upload_id}.`;
      this.openLog(body.upload_id);
      return;
    }
    const error = new ApiError(request.status, body);
    this.showRequestError(error);
    $("upload-result").textContent = `The upload was refused: ${error.message}`;
  }

  stopped(message) {
    this.request = null;
    $("upload-button").disabled = false;
    $("upload-progress").hidden = true;
    $("upload-result").textContent = message;
  }

  cancel() {
    if (this.request) this.request.abort();
  }
}
